import { ArgumentError } from '../../errors';
import { requireNumber } from '../../validate';
import { RedisArg, TensorCommand, replyOk } from '../reply';

export interface SgdCommandOptions {
  lr: number;
  momentum?: number;
  /** key of the velocity buffer (created as zeros when missing); required when momentum > 0 */
  velocityKey?: string;
  dampening?: number;
  nesterov?: boolean;
  weightDecay?: number;
}

/** TENSOR.SGD param grad LR lr [MOMENTUM m VELOCITY vkey] [DAMPENING d] [NESTEROV] [WEIGHTDECAY wd] */
export const TENSOR_SGD: TensorCommand<[param: string, grad: string, options: SgdCommandOptions], void> = {
  name: 'TENSOR.SGD',
  readonly: false,
  build(param, grad, o) {
    const args: RedisArg[] = [param, grad, 'LR', String(requireNumber(o.lr, 'lr', { min: 0 }))];
    const momentum = requireNumber(o.momentum ?? 0, 'momentum', { min: 0 });
    if (momentum > 0) {
      if (!o.velocityKey) throw new ArgumentError('ERR_ARGUMENT', 'momentum > 0 needs a velocityKey');
      args.push('MOMENTUM', String(momentum), 'VELOCITY', o.velocityKey);
    }
    if (o.dampening !== undefined) args.push('DAMPENING', String(requireNumber(o.dampening, 'dampening', { min: 0, max: 1 })));
    if (o.nesterov) {
      if (!(momentum > 0)) throw new ArgumentError('ERR_ARGUMENT', 'nesterov needs momentum > 0');
      args.push('NESTEROV');
    }
    if (o.weightDecay !== undefined) args.push('WEIGHTDECAY', String(requireNumber(o.weightDecay, 'weightDecay', { min: 0 })));
    return args;
  },
  parse: replyOk,
};
