// ACL layout on a real server: the default user off (NOAUTH), peer users that get NOPERM for every key
// position outside their own namespace in every TENSOR.* command (positions and access flags from the
// server's key specs, COMMAND GETKEYSANDFLAGS), signed gradients only through TENSOR.SETSIGNED, and nothing
// changed by a refused command.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { RunningRedis, startRedis } from '../../src/redis/launcher';
import { AclLayout, createAclLayout, pinnedKey, signedKey, urlWithCredentials } from '../../src/security/acl';
import { loadOrCreateIdentity } from '../../src/security/identity';
import { encodeSignedGradient } from '../../src/security/signing';
import { TensorStore } from '../../src/store/tensorStore';
import { tensor } from '../../src/tensor';
import { bytesOf, errorOf, restoreHeader } from '../module/util';

let redis: RunningRedis;
let layout: AclLayout;
let admin: Redis;
const opened: Redis[] = [];
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spirt-acl-'));
const peer1Identity = loadOrCreateIdentity('peer1', { dir });

/** a connection as `user` (no ready check: INFO is not a peer command) */
async function as(user: { username: string; password: string } | undefined): Promise<Redis> {
  const r = new Redis({ port: redis.port, host: '127.0.0.1', enableReadyCheck: false, lazyConnect: true, maxRetriesPerRequest: 0,
    ...(user ? { username: user.username, password: user.password } : {}) });
  r.on('error', () => undefined);
  opened.push(r);
  await r.connect();
  return r;
}

const pair = bytesOf(Float32Array.of(1, 2));
const k = (name: string) => `{peer1}:${name}`;

beforeAll(async () => {
  layout = createAclLayout(['peer0', 'peer1', 'peer2']);
  redis = await startRedis({ acl: { layout, owner: 'peer0' }, enableDebug: true });
  admin = new Redis(redis.url);
  opened.push(admin);
  for (const key of [k('p'), k('g'), k('g2'), '{peer2}:x', '{peer2}:pub:x']) {
    await admin.call('TENSOR.SET', key, 'FLOAT32', 'SHAPE', '2', 'BLOB', pair);
  }
  for (const peer of ['peer0', 'peer1', 'peer2']) {
    await admin.set(pinnedKey(peer), Buffer.from(peer === 'peer1' ? peer1Identity.publicKey : loadOrCreateIdentity(peer, { dir }).publicKey));
  }
});
afterAll(async () => {
  for (const r of opened) r.disconnect();
  await redis?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** One call of every module command by peer1 on its own keys; each must succeed as it stands. */
function samples(): Record<string, Array<string | Buffer>> {
  let step = 10;
  const signed = () => Buffer.from(encodeSignedGradient({ epoch: 0, step: ++step, view: 0, numBatches: 1, tensor: tensor('float32', [2], Float32Array.of(1, 2)) }, peer1Identity));
  return {
    'tensor.set': [k('new'), 'FLOAT32', 'SHAPE', '2', 'BLOB', pair],
    'tensor.get': [k('p')],
    'tensor.restore': [k('r'), restoreHeader({ dtype: 1, shape: [2n] }, 8), pair],
    'tensor.avg': [k('avg'), k('g'), k('g2')],
    'tensor.accum': [k('acc'), k('g')],
    'tensor.sgd': [k('p'), k('g'), 'LR', '0.1', 'MOMENTUM', '0.9', 'VELOCITY', k('vel')],
    'tensor.adam': [k('p'), k('g'), 'MKEY', k('m'), 'VKEY', k('v'), 'LR', '0.01', 'STEP', '1'],
    'tensor.split': [k('p'), '2', k('s0'), k('s1')],
    'tensor.cat': [k('cat'), '2', k('g'), k('g2')],
    'tensor.wait': ['TIMEOUT', '1', 'VERSION', '0', k('p'), k('g')],
    'tensor.agg': [k('agg'), 'MEAN', k('g'), k('g2')],
    // peer1's own pinned key is readable; the selector admits signed:{peer1}:*, the root rules {peer1}:*
    'tensor.setsigned': [k('sg'), 'MESSAGE', signed(), 'SIGNER', pinnedKey('peer1'), 'PEER', 'peer1', 'STEP', String(step), 'VIEW', '0'],
    'tensor.verifystats': [],
  };
}

/** GETKEYSANDFLAGS: each key's argument index (after the command name) and whether the command writes it */
async function keyPositions(command: string, args: Array<string | Buffer>): Promise<Array<{ at: number; writes: boolean }>> {
  if (args.length === 0) return [];
  const keys = (await admin.call('COMMAND', 'GETKEYSANDFLAGS', command, ...args)) as Array<[string, string[]]>;
  const used = new Set<number>();
  return keys.map(([key, flags]) => {
    const at = args.findIndex((a, i) => !used.has(i) && String(a) === key);
    used.add(at);
    return { at, writes: flags.some((f) => f === 'RW' || f === 'OW' || f === 'RM') };
  });
}

test('the default user is off: an unauthenticated client gets NOAUTH for every command and changes nothing', async () => {
  const digest = await admin.call('DEBUG', 'DIGEST');
  const commands = (await admin.call('COMMAND', 'LIST', 'FILTERBY', 'MODULE', 'spirt')) as string[];
  const calls: Array<Array<string | Buffer>> = [
    ...Object.entries(samples()).filter(([c]) => commands.includes(c)).map(([c, args]) => [c, ...args]),
    ['SET', k('p'), 'x'], ['GET', k('p')], ['FLUSHALL'], ['PING'],
  ];
  for (const [command, ...args] of calls) {
    // Redis also closes an unauthenticated connection that sends more than 10 arguments at once
    const anon = await as(undefined);
    const reply = await errorOf(anon.call(String(command), ...args));
    expect({ command, reply }).toEqual({ command, reply: expect.stringMatching(/^(NOAUTH|ERR Protocol error: unauthenticated multibulk length)/) });
  }
  const anon = await as(undefined);
  expect(await errorOf(anon.call('AUTH', 'default', ''))).toMatch(/^WRONGPASS/);
  expect(await errorOf(anon.call('AUTH', 'peer1', 'guess'))).toMatch(/^WRONGPASS/);
  expect(await admin.call('DEBUG', 'DIGEST')).toBe(digest);
});

test('peer1 gets NOPERM for another peer\'s key in every key position of every TENSOR.* command; published keys are readable only', async () => {
  const peer1 = await as(layout.peers.peer1);
  const commands = (await admin.call('COMMAND', 'LIST', 'FILTERBY', 'MODULE', 'spirt')) as string[];
  const table = samples();
  expect(commands.filter((c) => !(c in table))).toEqual([]); // a new command needs a sample call here
  let positions = 0;
  for (const command of commands.sort()) {
    const args = table[command];
    for (const { at, writes } of await keyPositions(command, args)) {
      positions++;
      for (const foreign of ['{peer2}:x', '{peer2}:pub:x', '{peer0}:x', 'signed:{peer2}:x', 'elsewhere']) {
        const allowed = foreign === '{peer2}:pub:x' && !writes;
        const outside = args.slice();
        outside[at] = foreign;
        const digest = await admin.call('DEBUG', 'DIGEST');
        const reply = await peer1.call(command, ...outside).then(() => 'OK', (e: Error) => e.message);
        const refused = reply.startsWith('NOPERM');
        expect({ command, at, foreign, refused }).toEqual({ command, at, foreign, refused: !allowed });
        if (refused) expect(await admin.call('DEBUG', 'DIGEST')).toBe(digest);
      }
    }
    // the same call on peer1's own keys is allowed and succeeds
    await peer1.call(command, ...samples()[command]);
  }
  expect(positions).toBeGreaterThanOrEqual(20);
});

test('signed:{peer} keys are written only by TENSOR.SETSIGNED under the peer\'s own pinned key, and read by the owner', async () => {
  const peer1 = await as(layout.peers.peer1);
  const message = Buffer.from(encodeSignedGradient({ epoch: 0, step: 50, view: 0, numBatches: 1, tensor: tensor('float32', [2], Float32Array.of(3, 4)) }, peer1Identity));
  const setSigned = (key: string, signer: string) =>
    peer1.call('TENSOR.SETSIGNED', key, 'MESSAGE', message, 'SIGNER', signer, 'PEER', 'peer1', 'STEP', '50', 'VIEW', '0');
  const digest = await admin.call('DEBUG', 'DIGEST');
  expect(await errorOf(setSigned(signedKey('peer1', 'g'), pinnedKey('peer2')))).toMatch(/^NOPERM/);
  expect(await errorOf(setSigned(signedKey('peer2', 'g'), pinnedKey('peer1')))).toMatch(/^NOPERM/);
  expect(await errorOf(peer1.call('TENSOR.SET', signedKey('peer1', 'g'), 'FLOAT32', 'SHAPE', '2', 'BLOB', pair))).toMatch(/^NOPERM/);
  expect(await errorOf(peer1.call('TENSOR.RESTORE', signedKey('peer1', 'g'), restoreHeader({ dtype: 1, shape: [2n] }, 8), pair))).toMatch(/^NOPERM/);
  expect(await errorOf(peer1.call('SET', pinnedKey('peer1'), 'x'.repeat(32)))).toMatch(/^NOPERM/);
  expect(await errorOf(peer1.call('DEL', pinnedKey('peer1')))).toMatch(/^NOPERM/);
  expect(await admin.call('DEBUG', 'DIGEST')).toBe(digest);
  expect(await setSigned(signedKey('peer1', 'g'), pinnedKey('peer1'))).toBe('OK');
  // the owner (peer0) reads it; another peer does not
  const owner = await TensorStore.connect(urlWithCredentials(`redis://127.0.0.1:${redis.port}`, layout.peers.peer0), { retries: 0 });
  try {
    expect(Array.from((await owner.get(signedKey('peer1', 'g')))!.data)).toEqual([3, 4]);
  } finally {
    await owner.close();
  }
  const peer2 = await as(layout.peers.peer2);
  expect(await errorOf(peer2.call('TENSOR.GET', signedKey('peer1', 'g')))).toMatch(/^NOPERM/);
});

test('peer commands: string basics on its own keys; other peers\' keys, admin and dangerous commands refused', async () => {
  const peer1 = await as(layout.peers.peer1);
  expect(await peer1.set(k('beat'), '1', 'PX', 5000)).toBe('OK');
  expect(await peer1.get(k('beat'))).toBe('1');
  expect(await peer1.exists('{peer2}:pub:x')).toBe(1);
  // SCAN (join requests are found by it) lists key names only; reading them is still by key pattern
  expect(((await peer1.call('SCAN', '0', 'MATCH', '{peer2}:*', 'COUNT', '1000')) as [string, string[]])[1]).toContain('{peer2}:pub:x');
  const digest = await admin.call('DEBUG', 'DIGEST');
  const refused: string[][] = [
    ['SET', '{peer2}:beat', '1'], ['GET', '{peer2}:x'], ['DEL', '{peer2}:pub:x'], ['SET', '{peer2}:pub:x', '1'],
    ['FLUSHALL'], ['FLUSHDB'], ['KEYS', '*'], ['CONFIG', 'GET', 'dir'], ['DEBUG', 'DIGEST'], ['ACL', 'LIST'],
    ['MIGRATE', '127.0.0.1', '1', k('p'), '0', '10'], ['EVAL', 'return 1', '0'], ['SHUTDOWN'], ['MODULE', 'LIST'],
    ['INFO'], ['MONITOR'], ['RENAME', k('p'), '{peer2}:p'], ['COPY', k('p'), '{peer2}:p'],
    // the peer runtime's state copy: DUMP of what others did not publish, RESTORE into others' keys
    ['DUMP', '{peer2}:x'], ['RESTORE', '{peer2}:y', '0', 'x'],
  ];
  for (const args of refused) {
    expect({ args, reply: await errorOf(peer1.call(args[0], ...args.slice(1))) }).toEqual({ args, reply: expect.stringMatching(/^NOPERM/) });
  }
  expect(await admin.call('DEBUG', 'DIGEST')).toBe(digest);
});

test('a peer connects with credentials in its URL; wrong ones are ERR_AUTH', async () => {
  const store = await TensorStore.connect(urlWithCredentials(`redis://127.0.0.1:${redis.port}`, layout.peers.peer2), { retries: 0 });
  try {
    expect(Array.from((await store.get('{peer2}:x'))!.data)).toEqual([1, 2]);
  } finally {
    await store.close();
  }
  await expect(TensorStore.connect(urlWithCredentials(`redis://127.0.0.1:${redis.port}`, { username: 'peer2', password: 'nope' }), { retries: 0 }))
    .rejects.toMatchObject({ code: 'ERR_AUTH' });
});
