// Key specs: COMMAND INFO and COMMAND DOCS name every key each TENSOR.* command touches, with its access
// flags, and an ACL user limited to one peer's keys is refused every command that names another key in any
// key position, leaving the data unchanged.
import Redis from 'ioredis';
import { bytesOf, client, errorOf, restoreHeader, serverWithClient, setF32 } from './util';

const s = serverWithClient();

/** A RESP2 map reply (flat array of name, value) as an object */
function asMap(reply: unknown): Record<string, unknown> {
  const a = reply as unknown[];
  const out: Record<string, unknown> = {};
  for (let i = 0; i < a.length; i += 2) out[String(a[i])] = a[i + 1];
  return out;
}

interface Spec {
  flags: string[];
  begin: string;
  find: string;
}

/** COMMAND INFO key specs, summarised: flags, where the search begins, how keys are found */
async function keySpecs(r: Redis, command: string): Promise<Spec[]> {
  const [info] = (await r.call('COMMAND', 'INFO', command)) as unknown[][];
  return (info[8] as unknown[]).map((raw) => {
    const spec = asMap(raw);
    const bs = asMap(spec.begin_search);
    const fk = asMap(spec.find_keys);
    const bsSpec = asMap(bs.spec);
    const fkSpec = asMap(fk.spec);
    return {
      flags: (spec.flags as string[]).slice().sort(),
      begin: bs.type === 'index' ? `index ${bsSpec.index}` : `keyword ${bsSpec.keyword} from ${bsSpec.startfrom}`,
      find: fk.type === 'range' ? `range ${fkSpec.lastkey}` : `keynum ${fkSpec.keynumidx} ${fkSpec.firstkey} ${fkSpec.keystep}`,
    };
  });
}

const RO = ['RO', 'access'];
const RO_INCOMPLETE = ['RO', 'access', 'incomplete'];
const UPDATE = ['RW', 'update'];
const REPLACE = ['OW', 'update'];

const EXPECTED: Record<string, Array<[string[], string, string]>> = {
  'tensor.set': [[REPLACE, 'index 1', 'range 0']],
  'tensor.get': [[RO, 'index 1', 'range 0']],
  'tensor.restore': [[REPLACE, 'index 1', 'range 0']],
  // the sources begin at 2, or at 4 after VERSION v: incomplete, so Redis asks the command (getkeys-api)
  'tensor.avg': [[REPLACE, 'index 1', 'range 0'], [RO_INCOMPLETE, 'index 2', 'range -1']],
  'tensor.accum': [[UPDATE, 'index 1', 'range 0'], [RO, 'index 2', 'range 0']],
  'tensor.sgd': [[UPDATE, 'index 1', 'range 0'], [RO, 'index 2', 'range 0'], [UPDATE, 'keyword VELOCITY from 3', 'range 0']],
  'tensor.adam': [
    [UPDATE, 'index 1', 'range 0'], [RO, 'index 2', 'range 0'],
    [UPDATE, 'keyword MKEY from 3', 'range 0'], [UPDATE, 'keyword VKEY from 3', 'range 0'],
  ],
  'tensor.split': [[RO, 'index 1', 'range 0'], [REPLACE, 'index 2', 'keynum 0 1 1']],
  'tensor.cat': [[REPLACE, 'index 1', 'range 0'], [RO, 'index 2', 'keynum 0 1 1']],
  'tensor.wait': [[['RO'], 'index 5', 'range -1']],
};

test('COMMAND INFO lists every key spec with its access flags', async () => {
  for (const [command, specs] of Object.entries(EXPECTED)) {
    const want = specs.map(([flags, begin, find]) => ({ flags: flags.slice().sort(), begin, find }));
    expect({ command, specs: await keySpecs(s.r, command) }).toEqual({ command, specs: want });
  }
});

test('COMMAND DOCS lists the key arguments, options included', async () => {
  const keyArgs = async (command: string) => {
    const [, doc] = (await s.r.call('COMMAND', 'DOCS', command)) as unknown[];
    return (asMap(doc).arguments as unknown[]).map(asMap).filter((a) => a.type === 'key').map((a) => [a.name, a.key_spec_index]);
  };
  expect(await keyArgs('tensor.sgd')).toEqual([['param', 0], ['grad', 1], ['VELOCITY', 2]]);
  expect(await keyArgs('tensor.adam')).toEqual([['param', 0], ['grad', 1], ['MKEY', 2], ['VKEY', 3]]);
  expect(await keyArgs('tensor.avg')).toEqual([['dest', 0], ['src', 1]]);
  expect(await keyArgs('tensor.split')).toEqual([['src', 0], ['dest', 1]]);
  expect(await keyArgs('tensor.cat')).toEqual([['dest', 0], ['src', 1]]);
  expect(await keyArgs('tensor.wait')).toEqual([['key', 0]]);
  const [, doc] = (await s.r.call('COMMAND', 'DOCS', 'tensor.sgd')) as unknown[];
  expect(asMap(doc).summary).toMatch(/SGD step/);
});

/** Every command, with all of its keys in peer1's namespace, and the argument positions that are keys. */
function calls(): Array<[string, Array<string | Buffer>, number[]]> {
  const k = (name: string) => `{peer1}:${name}`;
  const one = bytesOf(Float32Array.of(1, 2));
  return [
    ['TENSOR.SET', [k('new'), 'FLOAT32', 'SHAPE', '2', 'BLOB', one], [0]],
    ['TENSOR.GET', [k('p')], [0]],
    ['TENSOR.RESTORE', [k('r'), restoreHeader({ dtype: 1, shape: [2n] }, 8), one], [0]],
    ['TENSOR.AVG', [k('avg'), k('g'), k('g2')], [0, 1, 2]],
    ['TENSOR.AVG', [k('avg2'), 'VERSION', '3', k('g'), k('g2')], [0, 3, 4]],
    ['TENSOR.ACCUM', [k('acc'), k('g')], [0, 1]],
    ['TENSOR.SGD', [k('p'), k('g'), 'LR', '0.1', 'MOMENTUM', '0.9', 'VELOCITY', k('vel')], [0, 1, 7]],
    ['TENSOR.ADAM', [k('p'), k('g'), 'MKEY', k('m'), 'VKEY', k('v'), 'LR', '0.01', 'STEP', '1'], [0, 1, 3, 5]],
    ['TENSOR.SPLIT', [k('p'), '2', k('s0'), k('s1'), 'VERSION', '1'], [0, 2, 3]],
    ['TENSOR.CAT', [k('cat'), '2', k('s0'), k('s1')], [0, 2, 3]],
    ['TENSOR.WAIT', ['TIMEOUT', '1', 'VERSION', '0', k('p'), k('g')], [4, 5]],
  ];
}

test('a user limited to {peer1}:* gets NOPERM for any key outside it, in any key position, and nothing changes', async () => {
  await setF32(s.r, '{peer1}:p', [2], Float32Array.of(1, 2));
  await setF32(s.r, '{peer1}:g', [2], Float32Array.of(0.5, 0.25));
  await setF32(s.r, '{peer1}:g2', [2], Float32Array.of(1, 1));
  await setF32(s.r, '{peer2}:x', [2], Float32Array.of(3, 4));
  const commands = [...new Set(calls().map(([cmd]) => `+${cmd.toLowerCase()}`))];
  expect(await s.r.call('ACL', 'SETUSER', 'peer1', 'reset', 'on', '>pw', '~{peer1}:*', '+ping', ...commands)).toBe('OK');
  const u = client(s.redis);
  try {
    await u.call('AUTH', 'peer1', 'pw');
    for (const [cmd, args, keyPositions] of calls()) {
      for (const position of keyPositions) {
        const digest = await s.r.call('DEBUG', 'DIGEST');
        const outside = args.slice();
        outside[position] = '{peer2}:x';
        expect({ cmd, position, reply: await errorOf(u.call(cmd, ...outside)) }).toEqual({ cmd, position, reply: expect.stringMatching(/^NOPERM/) });
        expect(await s.r.call('DEBUG', 'DIGEST')).toBe(digest);
      }
      // with every key inside the namespace the same call is allowed
      await u.call(cmd, ...args);
    }
    expect(await s.r.exists('{peer1}:new', '{peer1}:acc', '{peer1}:vel', '{peer1}:m', '{peer1}:v', '{peer1}:avg2', '{peer1}:cat')).toBe(7);
    expect(await u.ping()).toBe('PONG');
  } finally {
    u.disconnect();
  }
});
