import { ArgumentError } from '../../errors';
import { SgdOptions, sgdHyperparameters } from '../../optim';
import { RedisArg, TensorCommand, replyOk } from '../reply';

export type SgdCommandOptions = Omit<SgdOptions, 'velocity'> & {
  /** key of the velocity buffer (created as zeros when missing); required when momentum > 0 */
  velocityKey?: string;
};

/** TENSOR.SGD param grad LR lr [MOMENTUM m VELOCITY vkey] [DAMPENING d] [NESTEROV] [WEIGHTDECAY wd] */
export const sgd: TensorCommand<[param: string, grad: string, options: SgdCommandOptions], void> = {
  name: 'TENSOR.SGD',
  readonly: false,
  build(param, grad, o) {
    const h = sgdHyperparameters(o);
    const args: RedisArg[] = [param, grad, 'LR', String(h.lr)];
    if (h.momentum > 0) {
      if (!o.velocityKey) throw new ArgumentError('ERR_ARGUMENT', 'momentum > 0 needs a velocityKey');
      args.push('MOMENTUM', String(h.momentum), 'VELOCITY', o.velocityKey);
    }
    args.push('DAMPENING', String(h.dampening), 'WEIGHTDECAY', String(h.weightDecay));
    if (h.nesterov) args.push('NESTEROV');
    return args;
  },
  parse: replyOk,
};
