/** Deterministic PRNG (mulberry32) so every failure reproduces. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Normal-ish values in [-scale, scale). */
export function randomF32(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale);
}

/** A Float32Array view that starts `offset` elements into a larger buffer: SIMD loads see unaligned addresses. */
export function atElementOffset(values: Float32Array, offset: number): Float32Array {
  const big = new Float32Array(values.length + offset + 3).fill(12345);
  big.set(values, offset);
  return big.subarray(offset, offset + values.length);
}

export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number, what = ''): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(e) || Number.isNaN(a)) {
      if (Number.isNaN(e) !== Number.isNaN(a)) throw new Error(`${what}[${i}]: got ${a}, expected ${e}`);
      continue;
    }
    if (a === e) continue;
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) {
      throw new Error(`${what}[${i}]: got ${a}, expected ${e} (rtol ${rtol}, atol ${atol})`);
    }
  }
}
