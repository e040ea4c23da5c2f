import { ArgumentError } from '../../errors';
import { requireInteger, requireNumber } from '../../validate';
import { RedisArg, TensorCommand, replyOk } from '../reply';

export interface AdamCommandOptions {
  /** keys of the first and second moment estimates (created as zeros when missing) */
  mKey: string;
  vKey: string;
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** AdamW: weight decay applied to the parameter instead of added to the gradient */
  decoupled?: boolean;
  /** 1-based step number for bias correction */
  step: number;
}

/** TENSOR.ADAM param grad MKEY m VKEY v LR lr [BETA1 b1] [BETA2 b2] [EPS e] [WEIGHTDECAY wd] [DECOUPLED] STEP t */
export const TENSOR_ADAM: TensorCommand<[param: string, grad: string, options: AdamCommandOptions], void> = {
  name: 'TENSOR.ADAM',
  readonly: false,
  build(param, grad, o) {
    if (!o.mKey || !o.vKey) throw new ArgumentError('ERR_ARGUMENT', 'Adam needs mKey and vKey');
    const args: RedisArg[] = [param, grad, 'MKEY', o.mKey, 'VKEY', o.vKey, 'LR', String(requireNumber(o.lr, 'lr', { min: 0 }))];
    if (o.beta1 !== undefined) args.push('BETA1', String(requireNumber(o.beta1, 'beta1', { min: 0, max: 0.999999999 })));
    if (o.beta2 !== undefined) args.push('BETA2', String(requireNumber(o.beta2, 'beta2', { min: 0, max: 0.999999999 })));
    if (o.eps !== undefined) args.push('EPS', String(requireNumber(o.eps, 'eps', { min: Number.MIN_VALUE })));
    if (o.weightDecay !== undefined) args.push('WEIGHTDECAY', String(requireNumber(o.weightDecay, 'weightDecay', { min: 0 })));
    if (o.decoupled) args.push('DECOUPLED');
    args.push('STEP', String(requireInteger(o.step, 'step', 1)));
    return args;
  },
  parse: replyOk,
};
