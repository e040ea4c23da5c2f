// Three ways to average N peers' gradients that already sit in Redis, behind one function: the research's
// headline comparison. 'in-db' and 'client' read module tensors; 'lua' reads JSON lists of numbers, the
// format the original SPIRT code stored and averaged with a Lua script, with no module at all.
import { createHash } from 'node:crypto';
import { ArgumentError, TensorFormatError } from '../errors';
import { meanAsync } from '../kernels';
import { tensor, viewElements } from '../tensor';
import { TensorStore } from './tensorStore';
import { replyBuffer } from './reply';

export type AveragingStrategy = 'in-db' | 'client' | 'lua';
export const AVERAGING_STRATEGIES: readonly AveragingStrategy[] = ['in-db', 'client', 'lua'];

/** SPIRT's in-Redis averaging without the module: decode JSON lists, sum, divide, encode. */
export const LUA_AVERAGE_SCRIPT = `
local n = #KEYS - 1
local sum = cjson.decode(redis.call('GET', KEYS[2]))
for i = 3, #KEYS do
  local g = cjson.decode(redis.call('GET', KEYS[i]))
  if #g ~= #sum then return redis.error_reply('ERR gradients have different lengths') end
  for j = 1, #sum do sum[j] = sum[j] + g[j] end
end
for j = 1, #sum do sum[j] = sum[j] / n end
redis.call('SET', KEYS[1], cjson.encode(sum))
return #sum
`;
const LUA_SHA = createHash('sha1').update(LUA_AVERAGE_SCRIPT).digest('hex');

function checkStrategy(strategy: AveragingStrategy): void {
  if (!AVERAGING_STRATEGIES.includes(strategy)) {
    throw new ArgumentError('ERR_ARGUMENT', `unknown averaging strategy '${String(strategy)}' (${AVERAGING_STRATEGIES.join(', ')})`);
  }
}

/** Stores one peer's gradient in the form the strategy reads: a module tensor, or a JSON list for 'lua'. */
export async function storeGradient(store: TensorStore, key: string, gradient: Float32Array, strategy: AveragingStrategy): Promise<void> {
  checkStrategy(strategy);
  if (strategy === 'lua') await store.command('SET', key, toJsonList(gradient));
  else await store.set(key, tensor('float32', [gradient.length], gradient));
}

/** A JSON list with 9 significant digits per element: enough to round-trip every float32 exactly. */
function toJsonList(gradient: Float32Array): string {
  const parts = new Array<string>(gradient.length);
  for (let i = 0; i < gradient.length; i++) {
    if (!Number.isFinite(gradient[i])) throw new TensorFormatError('ERR_NOT_FINITE', `element ${i} is ${gradient[i]}: JSON has no NaN or Infinity`);
    parts[i] = gradient[i].toPrecision(9);
  }
  return `[${parts.join(',')}]`;
}

/** dest = element-wise mean of the sources, by the chosen strategy. */
export async function averageGradients(store: TensorStore, strategy: AveragingStrategy, dest: string, sources: readonly string[]): Promise<void> {
  checkStrategy(strategy);
  if (sources.length === 0) throw new ArgumentError('ERR_ARGUMENT', 'averaging needs at least one source key');
  if (strategy === 'in-db') return store.avg(dest, sources);
  if (strategy === 'lua') return averageWithLua(store, dest, sources);
  return averageOnClient(store, dest, sources);
}

/** Fetch every gradient in one pipeline, average with the native kernel, write the mean back. */
async function averageOnClient(store: TensorStore, dest: string, sources: readonly string[]): Promise<void> {
  const p = store.pipeline().meta(sources[0]);
  for (const key of sources) p.getBlob(key);
  const [meta, ...blobs] = await p.exec();
  if (meta instanceof Error) throw meta;
  if (meta === null) throw new ArgumentError('ERR_ARGUMENT', `source ${sources[0]} does not exist`);
  const { dtype, shape } = meta;
  if (dtype !== 'float32') throw new TensorFormatError('ERR_DATA_TYPE', `client-side averaging handles float32 tensors, got ${dtype}`);
  const vectors = blobs.map((b, i) => {
    if (b instanceof Error) throw b;
    if (b === null) throw new ArgumentError('ERR_ARGUMENT', `source ${sources[i]} does not exist`);
    return viewElements('float32', b as Buffer);
  });
  const mean = await meanAsync(vectors);
  await store.set(dest, tensor('float32', shape, mean));
}

async function averageWithLua(store: TensorStore, dest: string, sources: readonly string[]): Promise<void> {
  const keys = [dest, ...sources];
  try {
    await store.command('EVALSHA', LUA_SHA, String(keys.length), ...keys);
  } catch (e) {
    if (!(e instanceof Error) || !/NOSCRIPT/.test(e.message)) throw e;
    await store.command('EVAL', LUA_AVERAGE_SCRIPT, String(keys.length), ...keys);
  }
}

/** Reads an averaged gradient back as float32, whichever strategy wrote it. */
export async function readAverage(store: TensorStore, key: string, strategy: AveragingStrategy): Promise<Float32Array> {
  checkStrategy(strategy);
  if (strategy !== 'lua') {
    const blob = await store.getBlob(key);
    if (blob === null) throw new ArgumentError('ERR_ARGUMENT', `${key} does not exist`);
    return viewElements('float32', blob);
  }
  const json = replyBuffer(await store.command('GET', key));
  if (json === null) throw new ArgumentError('ERR_ARGUMENT', `${key} does not exist`);
  return Float32Array.from(JSON.parse(json.toString('utf8')) as number[]);
}
