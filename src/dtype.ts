import { TensorFormatError } from './errors';

/** Element types a tensor can hold. float16 and bfloat16 are carried as raw 16-bit patterns in a Uint16Array. */
export type DType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int8' | 'int32';

export interface TypedArrayByDType {
  float32: Float32Array;
  float64: Float64Array;
  float16: Uint16Array;
  bfloat16: Uint16Array;
  int8: Int8Array;
  int32: Int32Array;
}
export type TypedArrayFor<D extends DType> = TypedArrayByDType[D];
export type AnyTensorData = TypedArrayByDType[DType];

type TypedArrayCtor = {
  new (length: number): AnyTensorData;
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): AnyTensorData;
  readonly BYTES_PER_ELEMENT: number;
};

interface DTypeInfo {
  /** value of spirt.DType in proto/tensor.proto and in the Redis module */
  wire: number;
  /** name in TENSOR.* commands */
  command: string;
  size: number;
  array: TypedArrayCtor;
}

export const DTYPES: Readonly<Record<DType, DTypeInfo>> = {
  float32: { wire: 1, command: 'FLOAT32', size: 4, array: Float32Array },
  float64: { wire: 2, command: 'FLOAT64', size: 8, array: Float64Array },
  float16: { wire: 3, command: 'FLOAT16', size: 2, array: Uint16Array },
  bfloat16: { wire: 4, command: 'BFLOAT16', size: 2, array: Uint16Array },
  int8: { wire: 5, command: 'INT8', size: 1, array: Int8Array },
  int32: { wire: 6, command: 'INT32', size: 4, array: Int32Array },
};

const byWire = new Map<number, DType>(Object.entries(DTYPES).map(([name, info]) => [info.wire, name as DType]));
const byCommand = new Map<string, DType>(Object.entries(DTYPES).map(([name, info]) => [info.command, name as DType]));

export function isDType(value: unknown): value is DType {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(DTYPES, value);
}

export function dtypeFromWire(value: number): DType {
  const dt = byWire.get(value);
  if (!dt) throw new TensorFormatError('ERR_UNKNOWN_DTYPE', `unknown dtype value ${value} in tensor message`);
  return dt;
}

export function dtypeFromCommand(name: string): DType {
  const dt = byCommand.get(name.toUpperCase());
  if (!dt) throw new TensorFormatError('ERR_UNKNOWN_DTYPE', `unknown dtype name '${name}'`);
  return dt;
}

/** The typed array kind that holds a dtype's elements. */
export function arrayMatchesDType(data: ArrayBufferView, dtype: DType): boolean {
  return data instanceof DTYPES[dtype].array;
}
