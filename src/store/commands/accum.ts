import { requireNumber } from '../../validate';
import { TensorCommand, replyInteger } from '../reply';

/** TENSOR.ACCUM acc src [WEIGHT w]: acc += w * src; returns the accumulator's new count. */
export const accum: TensorCommand<[acc: string, src: string, weight?: number], number> = {
  name: 'TENSOR.ACCUM',
  readonly: false,
  build: (acc, src, weight) =>
    weight === undefined ? [acc, src] : [acc, src, 'WEIGHT', String(requireNumber(weight, 'weight'))],
  parse: replyInteger,
};
