// The module's results do not depend on the SIMD path: the same commands on a server forced to the scalar
// kernels and on one with the default (or SPIRT_SIMD-chosen) path leave byte-identical tensors, so peers on
// different CPUs hold the same parameters. The module's own math is plain C with one chunking on every path;
// what remains is the kernels' (native/kernels: the same bits on every path).
import Redis from 'ioredis';
import { RunningRedis, startRedis } from '../../src/redis/launcher';
import * as ref from '../../src/reference';
import { rng } from '../random';
import { bytesOf, client, stopChecked } from './util';

let servers: RunningRedis[] = [];
let clients: Redis[] = [];

beforeAll(async () => {
  servers = await Promise.all([startRedis(), startRedis({ env: { ...process.env, SPIRT_SIMD: 'scalar' } })]);
  clients = servers.map(client);
});
afterAll(async () => {
  clients.forEach((c) => c.disconnect());
  await Promise.all(servers.map(stopChecked));
});

const N = 10007; // two full chunks of the module's 4096 and a ragged tail for every vector width

/** Values of many magnitudes, with the specials peers must agree on too: NaN, infinities, -0, subnormals. */
function values(seed: number): Float32Array {
  const r = rng(seed);
  const v = Float32Array.from({ length: N }, () => (r() * 2 - 1) * 4 ** (r() * 8 - 4));
  v.set([NaN, Infinity, -Infinity, -0, 1e-40, -3e-39, 3.4e38], 17 + (seed % 100));
  return v;
}

async function both(...args: Array<string | Buffer>): Promise<void> {
  const replies = await Promise.all(clients.map((c) => c.call(args[0] as string, ...args.slice(1)).catch((e: Error) => `error: ${e.message}`)));
  expect({ args: args.filter((a) => typeof a === 'string'), replies: replies[1] }).toEqual({ args: args.filter((a) => typeof a === 'string'), replies: replies[0] });
}

async function setBoth(key: string, dtype: string, data: ArrayBufferView) {
  await both('TENSOR.SET', key, dtype, 'SHAPE', String(N), 'BLOB', bytesOf(data));
}

/** The keys whose bytes differ between the two servers */
async function differing(keys: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const k of keys) {
    const [a, b] = (await Promise.all(clients.map((c) => c.callBuffer('TENSOR.GET', k)))) as Buffer[];
    if (!a || !b || !a.equals(b)) out.push(k);
  }
  return out;
}

test('AVG, ACCUM, SGD and ADAM on float32 and half inputs give the same bytes on the scalar and the default path', async () => {
  for (let j = 0; j < 5; j++) await setBoth(`{s}:f${j}`, 'FLOAT32', values(j));
  for (let j = 0; j < 3; j++) {
    await setBoth(`{s}:h${j}`, 'FLOAT16', Uint16Array.from(values(10 + j), ref.f32ToF16));
    await setBoth(`{s}:b${j}`, 'BFLOAT16', Uint16Array.from(values(20 + j), ref.f32ToBf16));
  }
  const cases: Array<[string, string[], Array<Array<string>>]> = [
    ['AVG float32, 1 and 5 sources', ['{s}:avg1', '{s}:avg5'], [
      ['TENSOR.AVG', '{s}:avg1', '{s}:f0'], ['TENSOR.AVG', '{s}:avg5', '{s}:f0', '{s}:f1', '{s}:f2', '{s}:f3', '{s}:f4']]],
    ['AVG float16 / bfloat16', ['{s}:avgh', '{s}:avgb'], [
      ['TENSOR.AVG', '{s}:avgh', '{s}:h0', '{s}:h1', '{s}:h2'], ['TENSOR.AVG', '{s}:avgb', '{s}:b0', '{s}:b1', '{s}:b2']]],
    ['ACCUM float32 and float16, weighted', ['{s}:acc'], [
      ['TENSOR.ACCUM', '{s}:acc', '{s}:f0', 'WEIGHT', '0.3'], ['TENSOR.ACCUM', '{s}:acc', '{s}:f1'],
      ['TENSOR.ACCUM', '{s}:acc', '{s}:h0', 'WEIGHT', '1.7']]],
    ['AVG with an accumulator source', ['{s}:avgacc'], [['TENSOR.AVG', '{s}:avgacc', '{s}:f2', '{s}:acc']]],
    ['SGD plain, float32 / float16 / accumulator gradients', ['{s}:p1'], [
      ['TENSOR.SGD', '{s}:p1', '{s}:f1', 'LR', '0.01'], ['TENSOR.SGD', '{s}:p1', '{s}:h1', 'LR', '0.02'],
      ['TENSOR.SGD', '{s}:p1', '{s}:acc', 'LR', '0.03']]],
    ['SGD momentum, dampening, Nesterov, weight decay', ['{s}:p2', '{s}:vel'], [0, 1, 2].map((step) => [
      'TENSOR.SGD', '{s}:p2', `{s}:f${step + 1}`, 'LR', '0.05', 'MOMENTUM', '0.9', 'DAMPENING', '0.1', 'NESTEROV',
      'WEIGHTDECAY', '0.001', 'VELOCITY', '{s}:vel'])],
    ['ADAM (L2), float32 and bfloat16 gradients', ['{s}:p3', '{s}:m3', '{s}:v3'], [1, 2, 3].map((step) => [
      'TENSOR.ADAM', '{s}:p3', step === 2 ? '{s}:b1' : `{s}:f${step}`, 'MKEY', '{s}:m3', 'VKEY', '{s}:v3', 'LR', '0.001',
      'WEIGHTDECAY', '0.01', 'STEP', String(step)])],
    ['ADAMW (decoupled), float16 gradients', ['{s}:p4', '{s}:m4', '{s}:v4'], [1, 2].map((step) => [
      'TENSOR.ADAM', '{s}:p4', `{s}:h${step}`, 'MKEY', '{s}:m4', 'VKEY', '{s}:v4', 'LR', '0.001', 'BETA1', '0.8',
      'BETA2', '0.99', 'EPS', '1e-6', 'WEIGHTDECAY', '0.1', 'DECOUPLED', 'STEP', String(step)])],
  ];
  await setBoth('{s}:p1', 'FLOAT32', values(30));
  await setBoth('{s}:p2', 'FLOAT32', values(31));
  await setBoth('{s}:p3', 'FLOAT32', values(32));
  await setBoth('{s}:p4', 'FLOAT32', values(33));
  const differ: string[] = [];
  for (const [name, keys, commands] of cases) {
    for (const command of commands) await both(...command);
    const keysOff = await differing(keys);
    if (keysOff.length) differ.push(`${name}: ${keysOff.join(' ')}`);
  }
  const path = process.env.SPIRT_SIMD ?? 'default';
  expect({ path, differ }).toEqual({ path, differ: [] });
});
