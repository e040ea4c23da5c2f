import { ArgumentError } from '../../errors';
import { SgdOptions, sgdHyperparameters } from '../../optim';
import { RedisArg, TensorCommand, replyOk } from '../reply';

export type SgdCommandOptions = Omit<SgdOptions, 'velocity' | 'step'> & {
  /**
   * key of the velocity buffer, required when momentum > 0. A missing key makes this PyTorch's step 1 (the velocity
   * is created as the gradient, undampened), so the module needs no step count.
   */
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
