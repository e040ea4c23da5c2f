/** Deterministic 32-bit xorshift generator: the same seed gives the same sequence of unsigned integers. */
export function xorshift32(seed: number): () => number {
  let s = (seed * 2654435761) >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s;
  };
}
