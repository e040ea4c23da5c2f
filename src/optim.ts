// Optimizer hyperparameters and their validation, shared by the native kernels (src/kernels.ts) and the
// Redis module's optimizer commands (src/store/commands): plain TypeScript, so the store works without the addon.
import { ArgumentError } from './errors';
import { requireInteger, requireNumber } from './validate';

export interface SgdOptions {
  lr: number;
  /** momentum factor; > 0 needs `velocity` */
  momentum?: number;
  /** velocity buffer (starts at zero), updated in place */
  velocity?: Float32Array;
  dampening?: number;
  nesterov?: boolean;
  /** L2 penalty added to the gradient */
  weightDecay?: number;
  /**
   * 1-based step count of the velocity buffer, as PyTorch counts it: on step 1 the velocity becomes the gradient,
   * undampened, whatever it held; later steps use velocity = momentum * velocity + (1 - dampening) * gradient.
   * Required when momentum > 0 and dampening > 0. Without dampening it may be left out: then every step is a later
   * step, and a zero-filled velocity gives PyTorch's first step anyway.
   */
  step?: number;
}

/** Validated SGD hyperparameters with defaults: shared by the kernel and TENSOR.SGD. */
export function sgdHyperparameters(o: Omit<SgdOptions, 'velocity' | 'step'>) {
  const momentum = requireNumber(o.momentum ?? 0, 'momentum', { min: 0 });
  if (o.nesterov && !(momentum > 0)) throw new ArgumentError('ERR_ARGUMENT', 'nesterov needs momentum > 0');
  return {
    lr: requireNumber(o.lr, 'lr', { min: 0 }), momentum,
    dampening: requireNumber(o.dampening ?? 0, 'dampening', { min: 0, max: 1 }),
    weightDecay: requireNumber(o.weightDecay ?? 0, 'weightDecay', { min: 0 }), nesterov: Boolean(o.nesterov),
  };
}

export interface AdamOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** true: AdamW (decoupled weight decay); false: Adam with L2 added to the gradient */
  decoupled?: boolean;
  /** 1-based step number, for bias correction */
  step: number;
}

/** Validated Adam hyperparameters with defaults: shared by the kernel and TENSOR.ADAM. */
export function adamHyperparameters(o: AdamOptions) {
  return {
    lr: requireNumber(o.lr, 'lr', { min: 0 }),
    beta1: requireNumber(o.beta1 ?? 0.9, 'beta1', { min: 0, max: 0.999999999 }),
    beta2: requireNumber(o.beta2 ?? 0.999, 'beta2', { min: 0, max: 0.999999999 }),
    eps: requireNumber(o.eps ?? 1e-8, 'eps', { min: Number.MIN_VALUE }),
    weightDecay: requireNumber(o.weightDecay ?? 0, 'weightDecay', { min: 0 }),
    decoupled: Boolean(o.decoupled),
    step: requireInteger(o.step, 'step', 1),
  };
}
