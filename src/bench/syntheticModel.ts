// A model of any size whose gradient costs nothing: the synchronisation benchmarks train it peer-to-peer at
// ResNet-18 size (11.69M float32) so that what they time is the exchange, not the compute. Peers load it as a
// `model: { module }` (a one-line module that calls syntheticModel(n), written by the benchmark).
import type { TrainableModel } from '../peer/training';
import { xorshift32 } from '../random';

/** Deterministic noise in [-scale, scale): the same (n, seed) gives the same vector in every process. */
function noise(n: number, seed: number, scale: number): Float32Array {
  const out = new Float32Array(n);
  const next = xorshift32(seed);
  for (let i = 0; i < n; i++) out[i] = (next() / 4294967296 - 0.5) * 2 * scale;
  return out;
}

/**
 * `paramCount` parameters; the gradient of any batch is one fixed noise vector (made once per process, so a
 * step's compute is a copy), the loss is 0, and evaluation reports accuracy 0: nothing here learns.
 */
export function syntheticModel(paramCount: number): TrainableModel {
  let gradient: Float32Array | undefined;
  return {
    paramCount,
    initParams: (seed) => noise(paramCount, seed + 1, 0.05),
    gradient: async () => {
      gradient ??= noise(paramCount, 0x5eed, 0.01);
      return { grad: gradient, loss: 0 };
    },
    evaluate: async () => ({ loss: 0, accuracy: 0 }),
  };
}
