// TENSOR.SETSIGNED: the module stores a signed GradientMessage's tensor only when it verifies, refuses every
// other with a distinct error code, counts the outcomes, and leaves the key as it was on any refusal.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GradientRejectedError } from '../../src/errors';
import { startRedis } from '../../src/redis/launcher';
import { PeerKeys, loadOrCreateIdentity } from '../../src/security/identity';
import { UnsignedGradient, asRejection, encodeSignedGradient, parseVerifyStats, signGradient, verifyGradient } from '../../src/security/signing';
import { TensorStore } from '../../src/store/tensorStore';
import { tensor } from '../../src/tensor';
import { GradientMessage, decodeGradient, encodeGradient } from '../../src/wire';
import { spirt } from '../../src/gen/tensor';
import { bytesOf, client, errorOf, serverWithClient, setF32, stopChecked } from './util';

const s = serverWithClient();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spirt-verify-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const alice = loadOrCreateIdentity('peer0', { dir });
const mallory = loadOrCreateIdentity('peer1', { dir });
const keys = PeerKeys.fromIdentities([alice, mallory]);

const grad = (step = 5, view = 2): UnsignedGradient =>
  ({ epoch: 1, step, view, numBatches: 3, tensor: tensor('float32', [2, 2], Float32Array.of(1, -2, 3.5, 4)) });
const buf = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

/** TENSOR.SETSIGNED into `key` as peer0 expects it: signer pin:{peer0}, step 5, view 2 unless overridden */
function setSigned(key: string, message: Uint8Array, o: { peer?: string; step?: number; view?: number; extra?: string[] } = {}) {
  return s.r.call('TENSOR.SETSIGNED', key, 'MESSAGE', buf(message), 'SIGNER', 'pin:{peer0}', 'PEER', o.peer ?? 'peer0',
    'STEP', String(o.step ?? 5), 'VIEW', String(o.view ?? 2), ...(o.extra ?? []));
}

async function stats() {
  return parseVerifyStats(await s.r.call('TENSOR.VERIFYSTATS'));
}

beforeAll(async () => {
  await s.r.set('pin:{peer0}', buf(alice.publicKey));
});

describe('TENSOR.SETSIGNED', () => {
  test('stores a verified gradient with its step as version, counts it, and the INFO section shows it', async () => {
    const before = await stats();
    expect(await setSigned('{peer0}:g', encodeSignedGradient(grad(), alice))).toBe('OK');
    expect(await s.r.call('TENSOR.GET', '{peer0}:g', 'META')).toEqual(['dtype', 'FLOAT32', 'shape', [2, 2], 'version', 5]);
    expect(await s.r.callBuffer('TENSOR.GET', '{peer0}:g')).toEqual(bytesOf(Float32Array.of(1, -2, 3.5, 4)));
    expect((await stats()).verified).toBe(before.verified + 1);
    const info = String(await s.r.call('INFO', 'spirt'));
    expect(info).toMatch(/# spirt_verify/);
    expect(info).toMatch(new RegExp(`spirt_verified:${before.verified + 1}\\r\\n`));
    // a newer step replaces it; VERSION and EPOCH are honoured
    expect(await setSigned('{peer0}:g', encodeSignedGradient(grad(6), alice), { step: 6, extra: ['EPOCH', '1', 'VERSION', '60'] })).toBe('OK');
    expect(await s.r.call('TENSOR.GET', '{peer0}:g', 'META')).toEqual(['dtype', 'FLOAT32', 'shape', [2, 2], 'version', 60]);
  });

  test('verifies every dtype and shape exactly as signGradient signs it', async () => {
    const cases = [
      tensor('float16', [3], Uint16Array.of(0x3c00, 1, 0x7e00)),
      tensor('bfloat16', [1, 1, 2], Uint16Array.of(0x3f80, 0)),
      tensor('int8', [], Int8Array.of(-7)),
      tensor('int32', [0, 4], new Int32Array(0)),
      tensor('float64', [2, 1, 1, 1], Float64Array.of(Math.PI, -0)),
    ];
    for (const [i, t] of cases.entries()) {
      const message = encodeSignedGradient({ epoch: 2 ** 40, step: 100 + i, view: 2, numBatches: 2 ** 32 - 1, tensor: t }, alice);
      expect(await setSigned(`{peer0}:dtype${i}`, message, { step: 100 + i })).toBe('OK');
      expect(await s.r.callBuffer('TENSOR.GET', `{peer0}:dtype${i}`)).toEqual(buf(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)));
    }
  });

  test('refuses unsigned, tampered, wrong-signer and replayed messages with distinct codes, counts them, changes nothing', async () => {
    await s.r.call('TENSOR.SETSIGNED', '{peer0}:k', 'MESSAGE', buf(encodeSignedGradient(grad(4), alice)),
      'SIGNER', 'pin:{peer0}', 'PEER', 'peer0', 'STEP', '4', 'VIEW', '2');
    const good = signGradient(grad(), alice);
    const tampered = decodeGradient(encodeGradient(good));
    (tampered.tensor.data as Float32Array)[3] = 4.5;
    const cases: Array<[string, Uint8Array, Parameters<typeof setSigned>[2], string]> = [
      ['no signature', encodeGradient({ ...good, signature: undefined }), {}, 'UNSIGNED'],
      ['empty signature', encodeGradient({ ...good, signature: new Uint8Array(0) }), {}, 'UNSIGNED'],
      ['no digest', encodeGradient({ ...good, digest: undefined }), {}, 'UNSIGNED'],
      ['tensor bytes changed', encodeGradient(tampered), {}, 'TAMPERED'],
      ['digest cut short', encodeGradient({ ...good, digest: good.digest!.subarray(0, 31) }), {}, 'TAMPERED'],
      ['signed by another peer', encodeSignedGradient(grad(), mallory), { peer: 'peer1' }, 'WRONGSIGNER'],
      ['another peer id claimed', encodeGradient({ ...signGradient(grad(), mallory), peerId: 'peer0' }), {}, 'WRONGSIGNER'],
      ['message from another peer than PEER', encodeSignedGradient(grad(), alice), { peer: 'peer7' }, 'WRONGSIGNER'],
      ['numBatches changed', encodeGradient({ ...good, numBatches: 300 }), {}, 'WRONGSIGNER'],
      ['shape changed', encodeGradient({ ...good, tensor: tensor('float32', [4], good.tensor.data as Float32Array) }), {}, 'WRONGSIGNER'],
      ['signature truncated', encodeGradient({ ...good, signature: good.signature!.subarray(0, 63) }), {}, 'WRONGSIGNER'],
      ['an old step', encodeSignedGradient(grad(3), alice), {}, 'REPLAY'],
      ['another view', encodeSignedGradient(grad(5, 1), alice), {}, 'REPLAY'],
      ['another epoch', encodeSignedGradient(grad(), alice), { extra: ['EPOCH', '0'] }, 'REPLAY'],
      ['not newer than the stored version', encodeSignedGradient(grad(4), alice), { step: 4 }, 'REPLAY'],
      ['older VERSION than stored', encodeSignedGradient(grad(), alice), { extra: ['VERSION', '3'] }, 'REPLAY'],
      ['not a gradient message', Buffer.from('\xff\xff\xff'), {}, 'ERR'],
      ['no tensor', spirt.GradientMessage.encode({ peerId: 'peer0', numBatches: 1, signature: good.signature, digest: good.digest }).finish(), {}, 'ERR'],
    ];
    const counted: Record<string, keyof ReturnType<typeof parseVerifyStats>> = {
      UNSIGNED: 'unsigned', TAMPERED: 'tampered', WRONGSIGNER: 'wrongSigner', REPLAY: 'replay', ERR: 'malformed',
    };
    for (const [what, message, options, code] of cases) {
      const digest = await s.r.call('DEBUG', 'DIGEST');
      const before = await stats();
      const reply = await errorOf(setSigned('{peer0}:k', message, options));
      expect({ what, reply }).toEqual({ what, reply: expect.stringMatching(new RegExp(`^${code} `)) });
      const after = await stats();
      expect({ what, counts: after }).toEqual({ what, counts: { ...before, [counted[code]]: before[counted[code]] + 1 } });
      expect(await s.r.call('DEBUG', 'DIGEST')).toBe(digest);
    }
  });

  test('the module and verifyGradient agree on every single-byte corruption of a signed message', async () => {
    const message = encodeSignedGradient(grad(9), alice);
    const reasons: Record<string, string> = { ERR_UNSIGNED: 'UNSIGNED', ERR_TAMPERED: 'TAMPERED', ERR_WRONG_SIGNER: 'WRONGSIGNER', ERR_REPLAY: 'REPLAY' };
    let decodable = 0;
    for (let at = 0; at < message.length; at++) {
      const bad = Buffer.from(message);
      bad[at] ^= 0x01;
      let expected: string;
      let g: GradientMessage | undefined;
      try {
        g = decodeGradient(bad);
      } catch {
        /* protobufjs refuses it: a message the module may refuse too, or read differently */
      }
      if (!g) continue;
      decodable++;
      try {
        verifyGradient(g, { keys, from: 'peer0', step: 9, view: 2 });
        expected = 'OK';
      } catch (e) {
        expect(e).toBeInstanceOf(GradientRejectedError);
        expected = reasons[(e as GradientRejectedError).code];
      }
      const reply = await setSigned(`{peer0}:flip${at}`, bad, { step: 9 }).then(String, (e: Error) => e.message.split(' ')[0]);
      expect({ at, reply }).toEqual({ at, reply: expected });
    }
    expect(decodable).toBeGreaterThan(message.length / 2);
  });

  test('bad arguments and a bad SIGNER key are ERR replies that count nothing', async () => {
    const message = buf(encodeSignedGradient(grad(), alice));
    await s.r.set('pin:short', Buffer.alloc(31));
    await s.r.rpush('pin:list', 'x');
    const before = await stats();
    const base = ['{peer0}:args', 'MESSAGE', message, 'SIGNER', 'pin:{peer0}', 'PEER', 'peer0', 'STEP', '5', 'VIEW', '2'];
    const errors: Array<[Array<string | Buffer>, RegExp]> = [
      [base.slice(0, 9), /wrong number of arguments/],
      [[...base.slice(0, 7), 'STEPS', '5', 'VIEW', '2'], /ERR syntax error: 'STEPS'/],
      [[...base.slice(0, 7), 'STEP', '5', 'EPOCH', '2'], /ERR VIEW is required/],
      [[...base, 'STEP', '6'], /ERR STEP is given more than once/],
      [[...base.slice(0, 8), '-1', 'VIEW', '2'], /ERR STEP must be an integer/],
      [[...base, 'VERSION', 'x'], /ERR VERSION must be an integer/],
      [['{peer0}:args', 'MSG', ...base.slice(2)], /ERR syntax: TENSOR.SETSIGNED key MESSAGE/],
      [[...base.slice(0, 4), 'pin:nope', ...base.slice(5)], /ERR SIGNER key does not exist/],
      [[...base.slice(0, 4), 'pin:short', ...base.slice(5)], /ERR SIGNER key does not hold a raw 32-byte/],
      [[...base.slice(0, 4), 'pin:list', ...base.slice(5)], /^WRONGTYPE/],
      [['pin:list', ...base.slice(1)], /^WRONGTYPE/],
    ];
    for (const [args, error] of errors) {
      expect(await errorOf(s.r.call('TENSOR.SETSIGNED', ...args))).toMatch(error);
    }
    expect(await s.r.exists('{peer0}:args')).toBe(0);
    expect(await stats()).toEqual(before);
  });

  test('key specs name the stored key and the SIGNER key', async () => {
    expect(await s.r.call('COMMAND', 'GETKEYS', 'TENSOR.SETSIGNED', 'a', 'MESSAGE', 'm', 'SIGNER', 'b', 'PEER', 'p', 'STEP', '1', 'VIEW', '1'))
      .toEqual(['a', 'b']);
    const [[name, arity, flags, , , , , , specs]] = (await s.r.call('COMMAND', 'INFO', 'TENSOR.VERIFYSTATS')) as unknown[][];
    expect({ name, arity, flags, specs }).toEqual({ name: 'tensor.verifystats', arity: 1, flags: ['readonly', 'module', 'fast'], specs: [] });
  });
});

test('TensorStore.setSigned stores a verified gradient; a refusal becomes the same GradientRejectedError as verifyGradient\'s', async () => {
  const store = await TensorStore.connect(s.redis.url);
  try {
    const options = { signerKey: 'pin:{peer0}', peer: 'peer0', step: 30, view: 2, epoch: 1 };
    await store.setSigned('{peer0}:store', encodeSignedGradient(grad(30), alice), options);
    expect(Array.from((await store.get('{peer0}:store'))!.data)).toEqual([1, -2, 3.5, 4]);
    const replayed = await store.setSigned('{peer0}:store', encodeSignedGradient(grad(30), alice), options).catch(asRejection);
    expect(replayed).toBeInstanceOf(GradientRejectedError);
    expect((replayed as GradientRejectedError).code).toBe('ERR_REPLAY');
    const forged = await store.setSigned('{peer0}:store', encodeSignedGradient(grad(31), mallory), { ...options, step: 31 }).catch(asRejection);
    expect((forged as GradientRejectedError).code).toBe('ERR_WRONG_SIGNER');
    await expect(store.setSigned('{peer0}:store', new Uint8Array(1), { ...options, step: -1 })).rejects.toMatchObject({ code: 'ERR_ARGUMENT' });
  } finally {
    await store.close();
  }
});

test('a server without libcrypto answers a clear ERR and stores nothing', async () => {
  const redis = await startRedis({ env: { ...process.env, SPIRT_LIBCRYPTO: 'libspirt-no-such-crypto.so.3' } });
  const r = client(redis);
  try {
    await r.set('pin:{peer0}', buf(alice.publicKey));
    await setF32(r, '{peer0}:g', [1], Float32Array.of(1));
    const reply = await errorOf(r.call('TENSOR.SETSIGNED', '{peer0}:g', 'MESSAGE', buf(encodeSignedGradient(grad(), alice)),
      'SIGNER', 'pin:{peer0}', 'PEER', 'peer0', 'STEP', '5', 'VIEW', '2'));
    expect(reply).toMatch(/^ERR signature verification needs OpenSSL 3's libcrypto \(libspirt-no-such-crypto\.so\.3\)/);
    expect(await r.call('TENSOR.GET', '{peer0}:g', 'META')).toEqual(['dtype', 'FLOAT32', 'shape', [1], 'version', 0]);
  } finally {
    r.disconnect();
    await stopChecked(redis);
  }
});
