import { DTYPES, dtypeFromWire } from './dtype';
import { SpirtError, TensorFormatError } from './errors';
import { spirt } from './gen/tensor';
import { Tensor, numel, tensorBytes, viewElements } from './tensor';

/** A gradient as it crosses a function or peer boundary. */
export interface GradientMessage {
  peerId: string;
  epoch: number;
  step: number;
  /** minibatches averaged into this gradient: its weight when peers aggregate */
  numBatches: number;
  tensor: Tensor;
  /** membership view the gradient was computed in (default 0) */
  view?: number;
  /** SHA-256 of the tensor's bytes, set by signGradient (src/security/signing.ts) */
  digest?: Uint8Array;
  /** Ed25519 signature over the canonical layout (signedPayload in src/security/signing.ts) */
  signature?: Uint8Array;
}

type LongLike = number | { low: number; high: number; unsigned: boolean };

/** protobufjs hands 64-bit fields over as Long objects: convert, rejecting what a double cannot hold exactly. */
function safeInteger(value: LongLike, what: string): number {
  let n: number;
  if (typeof value === 'number') n = value;
  else if (!value.unsigned && value.high < 0) n = -1;
  else n = value.high * 2 ** 32 + (value.low >>> 0);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new TensorFormatError('ERR_BAD_SHAPE', `${what} is negative or too large (${typeof value === 'number' ? value : 'int64'})`);
  }
  return n;
}

function decodeWith<T>(what: string, decode: () => T): T {
  try {
    return decode();
  } catch (e) {
    if (e instanceof SpirtError) throw e;
    const message = e instanceof Error ? e.message : String(e);
    const truncated = e instanceof RangeError;
    throw new TensorFormatError(truncated ? 'ERR_TRUNCATED' : 'ERR_MALFORMED', `${what} is ${truncated ? 'truncated' : 'malformed'}: ${message}`);
  }
}

function toMessage(t: Tensor): spirt.Tensor.$Properties {
  numel(t.shape, DTYPES[t.dtype].size);
  if (numel(t.shape) !== t.data.length) {
    throw new TensorFormatError('ERR_DATA_LENGTH', `shape [${t.shape.join(', ')}] does not hold ${t.data.length} elements`);
  }
  return { dtype: DTYPES[t.dtype].wire, shape: [...t.shape], data: tensorBytes(t) };
}

function fromMessage(m: spirt.Tensor): Tensor {
  const dtype = dtypeFromWire(m.dtype ?? 0);
  const shape = (m.shape as LongLike[]).map((d, i) => safeInteger(d, `dimension ${i}`));
  const n = numel(shape, DTYPES[dtype].size);
  const bytes = (m.data as Uint8Array | undefined) ?? new Uint8Array(0);
  if (bytes.byteLength !== n * DTYPES[dtype].size) {
    throw new TensorFormatError('ERR_DATA_LENGTH',
      `data has ${bytes.byteLength} bytes; shape [${shape.join(', ')}] of ${dtype} needs ${n * DTYPES[dtype].size}`);
  }
  return { dtype, shape, data: viewElements(dtype, bytes) };
}

/** Encodes a tensor as a protobuf spirt.Tensor (one copy of the data). */
export function encodeTensor(t: Tensor): Uint8Array {
  return spirt.Tensor.encode(toMessage(t)).finish();
}

/**
 * Decodes a protobuf spirt.Tensor. The result's data borrows `bytes` when its offset is aligned to the
 * element size (keep `bytes` unchanged while the tensor is in use) and is a copy otherwise.
 */
export function decodeTensor(bytes: Uint8Array): Tensor {
  return fromMessage(decodeWith('tensor message', () => spirt.Tensor.decode(bytes)));
}

export function encodeGradient(g: GradientMessage): Uint8Array {
  const view = g.view ?? 0;
  if (![g.epoch, g.step, view].every((n) => Number.isSafeInteger(n) && n >= 0)) {
    throw new TensorFormatError('ERR_BAD_FIELD', 'epoch, step and view must be non-negative integers');
  }
  if (!Number.isInteger(g.numBatches) || g.numBatches < 1 || g.numBatches > 0xffffffff) {
    throw new TensorFormatError('ERR_BAD_FIELD', 'numBatches must be an integer >= 1');
  }
  return spirt.GradientMessage.encode({
    peerId: g.peerId,
    epoch: g.epoch,
    step: g.step,
    numBatches: g.numBatches,
    tensor: toMessage(g.tensor),
    view,
    ...(g.digest ? { digest: g.digest } : {}),
    ...(g.signature ? { signature: g.signature } : {}),
  }).finish();
}

export function decodeGradient(bytes: Uint8Array): GradientMessage {
  const m = decodeWith('gradient message', () => spirt.GradientMessage.decode(bytes));
  if (!m.tensor) throw new TensorFormatError('ERR_MISSING_FIELD', 'gradient message has no tensor');
  if (!m.numBatches) throw new TensorFormatError('ERR_BAD_FIELD', 'gradient message has numBatches 0');
  return {
    peerId: m.peerId ?? '',
    epoch: safeInteger(m.epoch as LongLike, 'epoch'),
    step: safeInteger(m.step as LongLike, 'step'),
    view: safeInteger((m.view ?? 0) as LongLike, 'view'),
    numBatches: m.numBatches,
    tensor: fromMessage(m.tensor as spirt.Tensor),
    ...(m.digest !== undefined && m.digest !== null ? { digest: m.digest } : {}),
    ...(m.signature !== undefined && m.signature !== null ? { signature: m.signature } : {}),
  };
}
