import { Tensor } from '../../tensor';
import { decodeTensor } from '../../wire';
import { TensorCommand, TensorMeta, replyBuffer, replyMeta } from '../reply';

export interface GetOptions {
  /** for accumulators: the weighted mean instead of the running sum */
  mean?: boolean;
}

const meanArg = (o?: GetOptions) => (o?.mean ? ['MEAN'] : []);

/** TENSOR.GET key PROTO [MEAN]: the tensor (dtype, shape and data in one atomic reply), or null when the key does not exist. */
export const get: TensorCommand<[key: string, options?: GetOptions], Tensor | null> = {
  name: 'TENSOR.GET',
  readonly: true,
  build: (key, o) => [key, 'PROTO', ...meanArg(o)],
  parse(reply) {
    const bytes = replyBuffer(reply);
    return bytes === null ? null : decodeTensor(bytes);
  },
};

/** TENSOR.GET key BLOB [MEAN]: the raw little-endian bytes. */
export const getBlob: TensorCommand<[key: string, options?: GetOptions], Buffer | null> = {
  name: 'TENSOR.GET',
  readonly: true,
  build: (key, o) => [key, 'BLOB', ...meanArg(o)],
  parse: replyBuffer,
};

/** TENSOR.GET key META: dtype, shape and accumulator state. */
export const meta: TensorCommand<[key: string], TensorMeta | null> = {
  name: 'TENSOR.GET',
  readonly: true,
  build: (key) => [key, 'META'],
  parse: replyMeta,
};
