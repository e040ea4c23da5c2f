import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GradientRejectedError, TensorCommandError } from '../../src/errors';
import { PeerKeys, loadOrCreateIdentity } from '../../src/security/identity';
import { asRejection, encodeSignedGradient, signGradient, signedPayload, verifyGradient } from '../../src/security/signing';
import { tensor } from '../../src/tensor';
import { decodeGradient, encodeGradient } from '../../src/wire';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spirt-sign-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const alice = loadOrCreateIdentity('peer0', { dir });
const mallory = loadOrCreateIdentity('peer1', { dir });
const keys = PeerKeys.fromIdentities([alice, mallory]);
const grad = () => ({ epoch: 2, step: 7, view: 1, numBatches: 4, tensor: tensor('float32', [2, 2], Float32Array.of(1, -2, 3.5, 4)) });

function reason(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(GradientRejectedError);
    return (e as GradientRejectedError).code;
  }
  throw new Error('expected a rejection');
}

describe('signed gradients', () => {
  test('sign, encode, decode, verify', () => {
    const bytes = encodeSignedGradient(grad(), alice);
    const g = verifyGradient(bytes, { keys, from: 'peer0', step: 7, view: 1, epoch: 2, after: 6 });
    expect(g).toMatchObject({ peerId: 'peer0', epoch: 2, step: 7, view: 1, numBatches: 4 });
    expect(Array.from(g.tensor.data)).toEqual([1, -2, 3.5, 4]);
    expect(g.digest!.byteLength).toBe(32);
    expect(g.signature!.byteLength).toBe(64);
  });

  test('the canonical layout is the documented one', () => {
    const g = signGradient(grad(), alice);
    const p = signedPayload(g, g.digest!);
    const expected = Buffer.concat([
      Buffer.from('spirt-grad-v1'), Buffer.from([5, 0, 0, 0]), Buffer.from('peer0'),
      Buffer.from([2, 0, 0, 0, 0, 0, 0, 0]), Buffer.from([7, 0, 0, 0, 0, 0, 0, 0]), Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]),
      Buffer.from([4, 0, 0, 0]), Buffer.from([1, 0, 0, 0]), Buffer.from([2, 0, 0, 0]),
      Buffer.from([2, 0, 0, 0, 0, 0, 0, 0]), Buffer.from([2, 0, 0, 0, 0, 0, 0, 0]), Buffer.from(g.digest!),
    ]);
    expect(p).toEqual(expected);
  });

  test('each failure has its own reason', () => {
    const good = signGradient(grad(), alice);
    expect(reason(() => verifyGradient({ ...good, signature: undefined }, { keys }))).toBe('ERR_UNSIGNED');
    expect(reason(() => verifyGradient({ ...good, digest: undefined }, { keys }))).toBe('ERR_UNSIGNED');
    expect(reason(() => verifyGradient(encodeGradient({ peerId: 'peer0', ...grad() }), { keys }))).toBe('ERR_UNSIGNED');
    // tampered bytes (after signing)
    const tampered = decodeGradient(encodeGradient(good));
    (tampered.tensor.data as Float32Array)[0] = 100;
    expect(reason(() => verifyGradient(tampered, { keys }))).toBe('ERR_TAMPERED');
    // a changed field: the signature no longer verifies
    expect(reason(() => verifyGradient({ ...good, numBatches: 40 }, { keys }))).toBe('ERR_WRONG_SIGNER');
    expect(reason(() => verifyGradient({ ...good, tensor: tensor('float32', [4], good.tensor.data as Float32Array) }, { keys }))).toBe('ERR_WRONG_SIGNER');
    // mallory signs a message claiming to be peer0, or sends as herself where peer0 is expected
    const forged = signGradient(grad(), mallory);
    expect(reason(() => verifyGradient({ ...forged, peerId: 'peer0' }, { keys }))).toBe('ERR_WRONG_SIGNER');
    expect(reason(() => verifyGradient(forged, { keys, from: 'peer0' }))).toBe('ERR_WRONG_SIGNER');
    expect(reason(() => verifyGradient(good, { keys: new PeerKeys([['peer1', mallory.publicKey]]) }))).toBe('ERR_WRONG_SIGNER');
    // replays: another step, view or epoch, or not newer
    expect(reason(() => verifyGradient(good, { keys, step: 8 }))).toBe('ERR_REPLAY');
    expect(reason(() => verifyGradient(good, { keys, view: 2 }))).toBe('ERR_REPLAY');
    expect(reason(() => verifyGradient(good, { keys, epoch: 3 }))).toBe('ERR_REPLAY');
    expect(reason(() => verifyGradient(good, { keys, after: 7 }))).toBe('ERR_REPLAY');
    expect(verifyGradient(forged, { keys }).peerId).toBe('peer1');
  });

  test('module refusals map to the same reasons', () => {
    const e = asRejection(new TensorCommandError('TAMPERED', 'TAMPERED x', 'TENSOR.SETSIGNED'));
    expect(e).toBeInstanceOf(GradientRejectedError);
    expect((e as GradientRejectedError).code).toBe('ERR_TAMPERED');
    const other = new TensorCommandError('ERR', 'ERR x', 'TENSOR.SETSIGNED');
    expect(asRejection(other)).toBe(other);
  });
});
