import { decodeGradient, decodeTensor, encodeGradient, encodeTensor } from '../src/wire';
import { tensor } from '../src/tensor';
import { TensorFormatError } from '../src/errors';
import { spirt } from '../src/gen/tensor';
import { DType } from '../src/dtype';

function expectFormatError(fn: () => unknown, code: string) {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TensorFormatError);
    expect((e as TensorFormatError).code).toBe(code);
    return;
  }
  throw new Error(`expected TensorFormatError ${code}`);
}

/** encoded bytes placed at a chosen byte offset inside a larger buffer */
function atOffset(bytes: Uint8Array, offset: number): Buffer {
  const buf = Buffer.alloc(bytes.length + offset + 8);
  buf.set(bytes, offset);
  return buf.subarray(offset, offset + bytes.length);
}

describe('tensor wire format', () => {
  const samples: Array<[DType, ArrayLike<number>]> = [
    ['float32', [1.5, -2, 3.25, 0, Infinity, -0]],
    ['float64', [Math.PI, -1e300, 5e-324, 0, 1, 2]],
    ['float16', [0x3c00, 0xc000, 0x7c00, 0, 1, 0x7bff]],
    ['bfloat16', [0x3f80, 0xbf80, 0x7f80, 0, 2, 3]],
    ['int8', [-128, 127, 0, 1, -1, 5]],
    ['int32', [-(2 ** 31), 2 ** 31 - 1, 0, 7, -7, 9]],
  ];

  test.each(samples)('%s round-trips with shape and bytes intact', (dtype, values) => {
    const t = tensor(dtype, [2, 3], new (tensor(dtype, [0]).data.constructor as any)(values));
    const bytes = encodeTensor(t);
    const back = decodeTensor(bytes);
    expect(back.dtype).toBe(dtype);
    expect(back.shape).toEqual([2, 3]);
    expect(Buffer.from(back.data.buffer, back.data.byteOffset, back.data.byteLength))
      .toEqual(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  });

  test('scalar and empty tensors', () => {
    const scalar = decodeTensor(encodeTensor(tensor('float32', [], Float32Array.of(7))));
    expect(scalar.shape).toEqual([]);
    expect(Array.from(scalar.data)).toEqual([7]);
    const empty = decodeTensor(encodeTensor(tensor('int32', [0, 4])));
    expect(empty.shape).toEqual([0, 4]);
    expect(empty.data.length).toBe(0);
  });

  test('decode borrows aligned data and copies unaligned data', () => {
    const t = tensor('float32', [1024], Float32Array.from({ length: 1024 }, (_, i) => i * 0.5));
    const bytes = encodeTensor(t);
    // header is tag(1) dtype(1) tag(1) len(1) 1024(2) tag(1) len(2) = 9 bytes before the data
    const dataStart = bytes.length - 4096;
    let aligned: Buffer | undefined;
    let unaligned: Buffer | undefined;
    for (let off = 0; off < 4; off++) {
      const b = atOffset(bytes, off);
      if ((b.byteOffset + dataStart) % 4 === 0) aligned = b;
      else unaligned = b;
    }
    const borrowed = decodeTensor(aligned!);
    expect(borrowed.data.buffer).toBe(aligned!.buffer);
    expect(borrowed.data.byteOffset).toBe(aligned!.byteOffset + dataStart);
    const copied = decodeTensor(unaligned!);
    expect(copied.data.buffer).not.toBe(unaligned!.buffer);
    expect(Array.from(copied.data)).toEqual(Array.from(t.data));
    expect(Array.from(borrowed.data)).toEqual(Array.from(t.data));
  });

  test('truncated messages throw ERR_TRUNCATED at every cut', () => {
    const bytes = encodeTensor(tensor('float32', [3, 2], new Float32Array(6).fill(1)));
    for (let cut = 1; cut < bytes.length; cut++) {
      expect(() => decodeTensor(bytes.subarray(0, cut))).toThrow(TensorFormatError);
    }
    expectFormatError(() => decodeTensor(bytes.subarray(0, bytes.length - 1)), 'ERR_TRUNCATED');
  });

  test('data length must equal product(shape) x dtype size', () => {
    const bad = spirt.Tensor.encode({ dtype: 1, shape: [2, 3], data: new Uint8Array(20) }).finish();
    expectFormatError(() => decodeTensor(bad), 'ERR_DATA_LENGTH');
    const none = spirt.Tensor.encode({ dtype: 1, shape: [1] }).finish();
    expectFormatError(() => decodeTensor(none), 'ERR_DATA_LENGTH');
  });

  test('unknown or missing dtype is rejected', () => {
    expectFormatError(() => decodeTensor(spirt.Tensor.encode({ dtype: 42 as spirt.DType, shape: [1], data: new Uint8Array(4) }).finish()), 'ERR_UNKNOWN_DTYPE');
    expectFormatError(() => decodeTensor(spirt.Tensor.encode({ shape: [1], data: new Uint8Array(4) }).finish()), 'ERR_UNKNOWN_DTYPE');
  });

  test('negative and overflowing shapes are rejected', () => {
    expectFormatError(() => decodeTensor(spirt.Tensor.encode({ dtype: 1, shape: [-1], data: new Uint8Array(0) }).finish()), 'ERR_BAD_SHAPE');
    expectFormatError(() => decodeTensor(spirt.Tensor.encode({ dtype: 1, shape: [2 ** 40, 2 ** 40] }).finish()), 'ERR_BAD_SHAPE');
    expectFormatError(() => decodeTensor(spirt.Tensor.encode({ dtype: 1, shape: [2 ** 62] }).finish()), 'ERR_BAD_SHAPE');
    expectFormatError(() => decodeTensor(spirt.Tensor.encode({ dtype: 1, shape: [1, 1, 1, 1, 1, 1, 1, 1, 1] }).finish()), 'ERR_BAD_SHAPE');
  });

  test('garbage bytes give a typed error, never a crash', () => {
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 500; i++) {
      const junk = Uint8Array.from({ length: 1 + Math.floor(rand() * 40) }, () => Math.floor(rand() * 256));
      try {
        decodeTensor(junk);
      } catch (e) {
        expect(e).toBeInstanceOf(TensorFormatError);
      }
    }
  });

  test('tensor() validates construction', () => {
    expectFormatError(() => tensor('float32', [2, 2], new Float32Array(3)), 'ERR_DATA_LENGTH');
    expectFormatError(() => tensor('float32', [2], new Float64Array(2) as any), 'ERR_DATA_TYPE');
    expectFormatError(() => tensor('float32', [1.5]), 'ERR_BAD_SHAPE');
    expectFormatError(() => tensor('complex64' as any, [1]), 'ERR_UNKNOWN_DTYPE');
  });
});

describe('gradient message', () => {
  test('round-trips every field, with and without a signature', () => {
    const t = tensor('float32', [4], Float32Array.of(1, 2, 3, 4));
    const g = { peerId: 'peer-3', epoch: 12, step: 2 ** 40, numBatches: 8, tensor: t };
    const back = decodeGradient(encodeGradient(g));
    expect(back).toMatchObject({ peerId: 'peer-3', epoch: 12, step: 2 ** 40, numBatches: 8 });
    expect(back.signature).toBeUndefined();
    expect(Array.from(back.tensor.data)).toEqual([1, 2, 3, 4]);
    const signed = decodeGradient(encodeGradient({ ...g, signature: Uint8Array.of(9, 8, 7) }));
    expect(Array.from(signed.signature!)).toEqual([9, 8, 7]);
  });

  test('rejects missing tensor, zero batches and bad numbers', () => {
    expectFormatError(() => decodeGradient(spirt.GradientMessage.encode({ peerId: 'p', numBatches: 1 }).finish()), 'ERR_MISSING_FIELD');
    expectFormatError(() => decodeGradient(spirt.GradientMessage.encode({ peerId: 'p', tensor: { dtype: 1 } }).finish()), 'ERR_BAD_FIELD');
    const t = tensor('float32', [1]);
    expectFormatError(() => encodeGradient({ peerId: 'p', epoch: -1, step: 0, numBatches: 1, tensor: t }), 'ERR_BAD_FIELD');
    expectFormatError(() => encodeGradient({ peerId: 'p', epoch: 0, step: 0, numBatches: 0, tensor: t }), 'ERR_BAD_FIELD');
  });
});
