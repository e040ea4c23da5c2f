import { ArgumentError } from '../../errors';
import { SgdOptions, sgdHyperparameters } from '../../optim';
import { RedisArg, TensorCommand } from '../reply';
import { StepVersionOptions, replyApplied, stepVersionArgs } from './stepVersion';

export type SgdCommandOptions = Omit<SgdOptions, 'velocity' | 'step'> & StepVersionOptions & {
  /**
   * key of the velocity buffer, required when momentum > 0. A missing key makes this PyTorch's step 1 (the velocity
   * is created as the gradient, undampened), so the module needs no step count.
   */
  velocityKey?: string;
};

/** TENSOR.SGD param grad LR lr [MOMENTUM m VELOCITY vkey] [DAMPENING d] [NESTEROV] [WEIGHTDECAY wd] [VERSION v [GT]]; resolves to whether the step was applied */
export const sgd: TensorCommand<[param: string, grad: string, options: SgdCommandOptions], boolean> = {
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
    args.push(...stepVersionArgs(o));
    return args;
  },
  parse: replyApplied,
};
