import { DTYPES } from '../../dtype';
import { Tensor, numel, tensorBytes } from '../../tensor';
import { TensorFormatError } from '../../errors';
import { RedisArg, TensorCommand, replyOk } from '../reply';

/** TENSOR.SET key dtype SHAPE d1 .. dn BLOB bytes: the tensor's bytes are sent as they are (no copy). */
export const set: TensorCommand<[key: string, tensor: Tensor], void> = {
  name: 'TENSOR.SET',
  readonly: false,
  build(key, t) {
    const info = DTYPES[t.dtype];
    if (!info) throw new TensorFormatError('ERR_UNKNOWN_DTYPE', `unknown dtype '${String(t.dtype)}'`);
    if (numel(t.shape, info.size) !== t.data.length) {
      throw new TensorFormatError('ERR_DATA_LENGTH', `shape [${t.shape.join(', ')}] does not hold ${t.data.length} elements`);
    }
    const bytes = tensorBytes(t);
    const args: RedisArg[] = [key, info.command, 'SHAPE', ...t.shape.map(String), 'BLOB'];
    args.push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    return args;
  },
  parse: replyOk,
};

/** TENSOR.SET key PROTO bytes: an encoded spirt.Tensor (see encodeTensor) as it arrived from another function, parsed and checked by the module. */
export const setEncoded: TensorCommand<[key: string, encoded: Uint8Array], void> = {
  name: 'TENSOR.SET',
  readonly: false,
  build: (key, encoded) => [key, 'PROTO', Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength)],
  parse: replyOk,
};
