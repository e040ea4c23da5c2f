// Signed gradients: every GradientMessage that crosses a peer boundary carries the SHA-256 of its tensor bytes
// and an Ed25519 signature over a fixed binary layout that the Redis module rebuilds byte for byte in C
// (redis-module/cmd_verify.c), so a gradient verifies the same in TypeScript and in the database.
import crypto from 'node:crypto';
import { DTYPES } from '../dtype';
import { ArgumentError, GradientRejectedError, SpirtError, TensorCommandError } from '../errors';
import { numel, tensorBytes } from '../tensor';
import { GradientMessage, decodeGradient, encodeGradient } from '../wire';
import { Identity, PeerKeys, SIGNATURE_BYTES } from './identity';

export const SIGNED_LAYOUT_TAG = 'spirt-grad-v1';

/** A gradient before signing: the signer's identity supplies peerId, signGradient the digest and signature. */
export type UnsignedGradient = Omit<GradientMessage, 'peerId' | 'digest' | 'signature'>;

export function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(crypto.createHash('sha256').update(bytes).digest());
}

/**
 * The bytes a signature covers, all integers little-endian:
 * "spirt-grad-v1" | u32 len | peer_id (UTF-8) | u64 epoch | u64 step | u64 view | u32 num_batches |
 * u32 dtype (proto enum) | u32 ndim | u64 dim x ndim | sha256(tensor data) (32 bytes).
 */
export function signedPayload(g: GradientMessage, digest: Uint8Array): Buffer {
  const peer = Buffer.from(g.peerId, 'utf8');
  const { shape } = g.tensor;
  const out = Buffer.alloc(SIGNED_LAYOUT_TAG.length + 4 + peer.length + 8 * 3 + 4 * 3 + 8 * shape.length + 32);
  let at = out.write(SIGNED_LAYOUT_TAG, 0, 'ascii');
  at = out.writeUInt32LE(peer.length, at);
  at += peer.copy(out, at);
  for (const n of [g.epoch, g.step, g.view ?? 0]) at = out.writeBigUInt64LE(BigInt(n), at);
  at = out.writeUInt32LE(g.numBatches, at);
  at = out.writeUInt32LE(DTYPES[g.tensor.dtype].wire, at);
  at = out.writeUInt32LE(shape.length, at);
  for (const d of shape) at = out.writeBigUInt64LE(BigInt(d), at);
  out.set(digest, at);
  return out;
}

/** The gradient with its peer id, digest and signature, ready for encodeGradient. */
export function signGradient(g: UnsignedGradient, identity: Identity): GradientMessage {
  const message: GradientMessage = { ...g, peerId: identity.peerId, view: g.view ?? 0 };
  // encodeGradient's checks (integers in range, shape holds the data) before anything is signed
  encodeGradient(message);
  numel(g.tensor.shape, DTYPES[g.tensor.dtype].size);
  const digest = sha256(tensorBytes(g.tensor));
  const signature = new Uint8Array(crypto.sign(null, signedPayload(message, digest), identity.privateKey));
  return { ...message, digest, signature };
}

/** signGradient, encoded: the bytes to send (TENSOR.SETSIGNED ... MESSAGE bytes). */
export function encodeSignedGradient(g: UnsignedGradient, identity: Identity): Uint8Array {
  return encodeGradient(signGradient(g, identity));
}

export interface VerifyOptions {
  /** the pinned public keys of the run's peers */
  keys: PeerKeys;
  /** the peer the message must come from (e.g. the owner of the key it is stored under) */
  from?: string;
  /** the step, view and epoch the receiver expects now: another one is a replay */
  step?: number;
  view?: number;
  epoch?: number;
  /** the step already accepted from this peer: the message's step must be greater */
  after?: number;
}

function reject(code: string, message: string): never {
  throw new GradientRejectedError(code, message);
}

/**
 * The message, verified, or GradientRejectedError with the reason (ERR_UNSIGNED, ERR_TAMPERED,
 * ERR_WRONG_SIGNER, ERR_REPLAY, checked in this order, as TENSOR.SETSIGNED does). Bytes that are no gradient
 * message at all are a TensorFormatError.
 */
export function verifyGradient(input: GradientMessage | Uint8Array, options: VerifyOptions): GradientMessage {
  const g = input instanceof Uint8Array ? decodeGradient(input) : input;
  if (!g.signature?.byteLength || !g.digest?.byteLength) {
    reject('ERR_UNSIGNED', `gradient message from '${g.peerId}' has no ${g.signature?.byteLength ? 'digest' : 'signature'}`);
  }
  const digest = sha256(tensorBytes(g.tensor));
  if (!Buffer.from(digest).equals(g.digest)) {
    reject('ERR_TAMPERED', `gradient message from '${g.peerId}': the tensor bytes do not match the signed digest`);
  }
  if (options.from !== undefined && g.peerId !== options.from) {
    reject('ERR_WRONG_SIGNER', `gradient message is from peer '${g.peerId}', expected '${options.from}'`);
  }
  if (!options.keys.has(g.peerId)) reject('ERR_WRONG_SIGNER', `no public key is pinned for peer '${g.peerId}'`);
  const valid = g.signature.byteLength === SIGNATURE_BYTES
    && crypto.verify(null, signedPayload(g, digest), options.keys.keyObject(g.peerId), g.signature);
  if (!valid) reject('ERR_WRONG_SIGNER', `gradient message signature does not verify under peer '${g.peerId}''s pinned key`);
  const view = g.view ?? 0;
  for (const [name, got, expected] of [['step', g.step, options.step], ['view', view, options.view], ['epoch', g.epoch, options.epoch]] as const) {
    if (expected !== undefined && got !== expected) reject('ERR_REPLAY', `gradient message is for ${name} ${got}, expected ${expected}`);
  }
  if (options.after !== undefined && g.step <= options.after) {
    reject('ERR_REPLAY', `gradient message is for step ${g.step}, not newer than step ${options.after}`);
  }
  return g;
}

/** Why TENSOR.SETSIGNED refused a message, as the module names its error codes. */
export const REJECTION_CODES = {
  UNSIGNED: 'ERR_UNSIGNED',
  TAMPERED: 'ERR_TAMPERED',
  WRONGSIGNER: 'ERR_WRONG_SIGNER',
  REPLAY: 'ERR_REPLAY',
} as const;

/**
 * A TENSOR.SETSIGNED refusal (TensorCommandError with code UNSIGNED, TAMPERED, WRONGSIGNER or REPLAY) as the
 * GradientRejectedError verifyGradient would throw; any other error is returned as it is.
 */
export function asRejection(e: unknown): unknown {
  if (e instanceof TensorCommandError && e.code in REJECTION_CODES) {
    return new GradientRejectedError(REJECTION_CODES[e.code as keyof typeof REJECTION_CODES], e.message);
  }
  return e;
}

/** Counts of TENSOR.SETSIGNED outcomes since the server started (TENSOR.VERIFYSTATS). */
export interface VerifyStats {
  verified: number;
  unsigned: number;
  tampered: number;
  wrongSigner: number;
  replay: number;
  malformed: number;
}

/** Parses TENSOR.VERIFYSTATS's reply: name/value pairs. */
export function parseVerifyStats(reply: unknown): VerifyStats {
  if (!Array.isArray(reply) || reply.length % 2) throw new SpirtError('ERR_REPLY', `TENSOR.VERIFYSTATS replied ${String(reply)}`);
  const fields = new Map<string, number>();
  for (let i = 0; i < reply.length; i += 2) fields.set(String(reply[i]), Number(reply[i + 1]));
  const field = (name: string) => {
    const v = fields.get(name);
    if (!Number.isSafeInteger(v)) throw new SpirtError('ERR_REPLY', `TENSOR.VERIFYSTATS reply has no ${name}`);
    return v!;
  };
  return {
    verified: field('verified'), unsigned: field('unsigned'), tampered: field('tampered'),
    wrongSigner: field('wrong_signer'), replay: field('replay'), malformed: field('malformed'),
  };
}

/** ArgumentError unless n is a non-negative safe integer (a step, view, epoch or version). */
export function checkCounter(n: number, name: string): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new ArgumentError('ERR_ARGUMENT', `${name} must be a non-negative integer, got ${n}`);
  return n;
}
