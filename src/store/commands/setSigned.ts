import { checkCounter } from '../../security/signing';
import { RedisArg, TensorCommand, replyOk } from '../reply';

export interface SetSignedOptions {
  /** the key holding the signer's pinned raw 32-byte Ed25519 public key (e.g. pin:{peer3}) */
  signerKey: string;
  /** the peer id the message must carry */
  peer: string;
  /** the step and view the receiver expects: another one is refused as a replay */
  step: number;
  view: number;
  /** the epoch it expects, when it checks one */
  epoch?: number;
  /** the version to store (default: step); it must exceed the stored value's */
  version?: number;
}

/**
 * TENSOR.SETSIGNED key MESSAGE bytes SIGNER pubkey-key PEER id STEP s VIEW v [EPOCH e] [VERSION ver]: stores
 * the tensor of a signed spirt.GradientMessage (encodeSignedGradient) only if it verifies in the module.
 * A refusal is a TensorCommandError with code UNSIGNED, TAMPERED, WRONGSIGNER or REPLAY (asRejection in
 * src/security/signing.ts turns it into a GradientRejectedError).
 */
export const setSigned: TensorCommand<[key: string, message: Uint8Array, options: SetSignedOptions], void> = {
  name: 'TENSOR.SETSIGNED',
  readonly: false,
  build(key, message, o) {
    const args: RedisArg[] = [key, 'MESSAGE', Buffer.from(message.buffer, message.byteOffset, message.byteLength),
      'SIGNER', o.signerKey, 'PEER', o.peer, 'STEP', String(checkCounter(o.step, 'step')), 'VIEW', String(checkCounter(o.view, 'view'))];
    if (o.epoch !== undefined) args.push('EPOCH', String(checkCounter(o.epoch, 'epoch')));
    if (o.version !== undefined) args.push('VERSION', String(checkCounter(o.version, 'version')));
    return args;
  },
  parse: replyOk,
};
