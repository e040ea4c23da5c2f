// Corrupt RDB files: truncated and byte-flipped copies of files holding every dtype and an accumulator.
// Each start either loads consistent values (every tensor's META agrees with its BLOB) that save and load
// again, or is refused (the server exits). Redis 7.0 can spin forever at startup on some truncated module
// values (its redis-check-rdb module-value walk loops at end of file): such a start is bounded by
// readyTimeoutMs, killed by the launcher (its own child, by pid), and reported here.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RedisLaunchError } from '../../src/errors';
import { startRedis } from '../../src/redis/launcher';
import { rng } from '../random';
import { client, expectConsistent, populate, stopChecked } from './util';

const underValgrind = !!process.env.SPIRT_REDIS_WRAPPER;
/** a healthy start takes ~0.1 s (several under valgrind): anything far beyond is the Redis spin */
const READY_TIMEOUT_MS = underValgrind ? 30_000 : 4_000;

type Outcome = 'loaded' | 'refused' | 'hung';

/** An RDB file written by a server holding every kind of value, with or without its CRC. */
async function writeRdb(checksum: boolean): Promise<Buffer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spirt-rdb-src-'));
  try {
    const redis = await startRedis({ dir, args: ['--rdbchecksum', checksum ? 'yes' : 'no'] });
    const r = client(redis);
    await populate(r);
    expect(await r.save()).toBe('OK');
    r.disconnect();
    await stopChecked(redis);
    return fs.readFileSync(path.join(dir, 'dump.rdb'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function startOn(rdb: Buffer): Promise<Outcome> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spirt-rdb-'));
  try {
    fs.writeFileSync(path.join(dir, 'corrupt.rdb'), rdb);
    let redis;
    try {
      redis = await startRedis({ enableDebug: true, dir, args: ['--dbfilename', 'corrupt.rdb'], readyTimeoutMs: READY_TIMEOUT_MS });
    } catch (e) {
      if (e instanceof RedisLaunchError && e.code === 'ERR_REDIS_EXITED') return 'refused';
      if (e instanceof RedisLaunchError && e.code === 'ERR_REDIS_TIMEOUT') return 'hung';
      throw e;
    }
    const r = client(redis);
    try {
      await expectConsistent(r);
      expect(await r.call('DEBUG', 'RELOAD')).toBe('OK'); // what loaded also saves and loads again
      await expectConsistent(r);
    } finally {
      r.disconnect();
      await stopChecked(redis);
    }
    return 'loaded';
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('truncated and byte-flipped RDB files load consistently or are refused; hangs are bounded and reported', async () => {
  const [checked, unchecked] = [await writeRdb(true), await writeRdb(false)];
  // the intact files load: the variants below start from a good file
  expect(await startOn(checked)).toBe('loaded');
  expect(await startOn(unchecked)).toBe('loaded');
  const r = rng(1999);
  const at = (file: Buffer) => 9 + Math.floor(r() * (file.length - 9)); // past the 'REDIS0010' magic
  // a cut between two fields of a module value (key 'i32', after its type id): the module refuses the short
  // read, and Redis 7.0's RDB check then loops, reading the missing next opcode again and again
  const i32 = checked.indexOf(Buffer.from([0x07, 0x03, ...Buffer.from('i32')]));
  expect(i32).toBeGreaterThan(0);
  const variants: Array<[string, Buffer]> = [['truncated between two fields of a module value', checked.subarray(0, i32 + 5 + 9)]];
  for (let i = 0; i < 14; i++) {
    const cut = at(checked);
    variants.push([`truncated at ${cut}/${checked.length}`, checked.subarray(0, cut)]);
  }
  for (let i = 0; i < 26; i++) {
    // without a CRC the flipped value itself reaches the module's loader; with one, the whole file is refused
    const [name, file] = i < 20 ? ['unchecked', unchecked] : ['checked', checked];
    const flipped = Buffer.from(file);
    const offsets = Array.from({ length: 1 + Math.floor(r() * 3) }, () => at(file));
    for (const o of offsets) flipped[o] ^= 1 << Math.floor(r() * 8);
    variants.push([`${name}, bytes ${offsets.join(',')} flipped`, flipped]);
  }
  // under valgrind every start costs seconds: a deterministic third of the variants
  const run = underValgrind ? variants.filter((_, i) => i % 3 === 0) : variants;
  const outcomes: Record<Outcome, string[]> = { loaded: [], refused: [], hung: [] };
  for (const [what, file] of run) outcomes[await startOn(file)].push(what);
  console.log(`corrupt RDB starts: ${outcomes.loaded.length} loaded consistently, ${outcomes.refused.length} refused, ` +
    `${outcomes.hung.length} hung in Redis's RDB check and were killed after ${READY_TIMEOUT_MS} ms` +
    (outcomes.hung.length ? `:\n  ${outcomes.hung.join('\n  ')}` : ''));
  expect(outcomes.loaded.length + outcomes.refused.length + outcomes.hung.length).toBe(run.length);
  expect(outcomes.refused.length).toBeGreaterThan(0);
  // the CRC catches every flip that loads: a checked file with a flipped byte never loads
  expect(outcomes.loaded.filter((w) => w.startsWith('checked'))).toEqual([]);
}, 600_000);
