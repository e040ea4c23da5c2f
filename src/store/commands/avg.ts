import { ArgumentError } from '../../errors';
import { TensorCommand, replyOk } from '../reply';

/** TENSOR.AVG dest src1 .. srcN: element-wise mean computed inside Redis. */
export const avg: TensorCommand<[dest: string, sources: readonly string[]], void> = {
  name: 'TENSOR.AVG',
  readonly: false,
  build(dest, sources) {
    if (!Array.isArray(sources) || sources.length === 0) throw new ArgumentError('ERR_ARGUMENT', 'TENSOR.AVG needs at least one source key');
    return [dest, ...sources];
  },
  parse: replyOk,
};
