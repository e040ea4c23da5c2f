import { ArgumentError } from '../../errors';
import { AdamOptions, adamHyperparameters } from '../../optim';
import { TensorCommand } from '../reply';
import { StepVersionOptions, replyApplied, stepVersionArgs } from './stepVersion';

export type AdamCommandOptions = AdamOptions & StepVersionOptions & {
  /** keys of the first and second moment estimates (created as zeros when missing) */
  mKey: string;
  vKey: string;
};

/** TENSOR.ADAM param grad MKEY m VKEY v LR lr [BETA1 b1] [BETA2 b2] [EPS e] [WEIGHTDECAY wd] [DECOUPLED] STEP t [VERSION v [GT]]; resolves to whether the step was applied */
export const adam: TensorCommand<[param: string, grad: string, options: AdamCommandOptions], boolean> = {
  name: 'TENSOR.ADAM',
  readonly: false,
  build(param, grad, o) {
    if (!o.mKey || !o.vKey) throw new ArgumentError('ERR_ARGUMENT', 'Adam needs mKey and vKey');
    const h = adamHyperparameters(o);
    return [param, grad, 'MKEY', o.mKey, 'VKEY', o.vKey, 'LR', String(h.lr), 'BETA1', String(h.beta1), 'BETA2', String(h.beta2),
      'EPS', String(h.eps), 'WEIGHTDECAY', String(h.weightDecay), ...(h.decoupled ? ['DECOUPLED'] : []), 'STEP', String(h.step), ...stepVersionArgs(o)];
  },
  parse: replyApplied,
};
