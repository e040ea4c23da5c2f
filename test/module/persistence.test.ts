// Tensors survive DEBUG RELOAD, an RDB restart, an AOF rewrite + restart, and reach a replica byte for byte.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { RunningRedis, startRedis } from '../../src/redis/launcher';
import { client, populate, setF32, stopChecked } from './util';

interface Snapshot {
  blob: Buffer;
  meta: unknown;
  digest: string;
}

async function snapshot(r: Redis, keys: string[]): Promise<Record<string, Snapshot>> {
  const out: Record<string, Snapshot> = {};
  for (const k of keys) {
    out[k] = {
      blob: (await r.callBuffer('TENSOR.GET', k)) as Buffer,
      meta: await r.call('TENSOR.GET', k, 'META'),
      digest: ((await r.call('DEBUG', 'DIGEST-VALUE', k)) as string[])[0],
    };
  }
  return out;
}

function expectSame(a: Record<string, Snapshot>, b: Record<string, Snapshot>) {
  expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
  for (const k of Object.keys(a)) {
    expect({ key: k, same: b[k].blob.equals(a[k].blob) }).toEqual({ key: k, same: true });
    expect(b[k].meta).toEqual(a[k].meta);
    expect(b[k].digest).toBe(a[k].digest);
  }
}

describe('persistence', () => {
  test('DEBUG RELOAD keeps every tensor bit-identical', async () => {
    const redis = await startRedis({ enableDebug: true });
    const r = client(redis);
    try {
      const keys = await populate(r);
      const before = await snapshot(r, keys);
      expect(await r.call('DEBUG', 'RELOAD')).toBe('OK');
      expectSame(before, await snapshot(r, keys));
    } finally {
      r.disconnect();
      await stopChecked(redis);
    }
  });

  /** populate a server in a fresh directory, persist, restart it on the same directory, compare */
  async function survivesRestart(args: string[], persist: (r: Redis, keys: string[]) => Promise<Record<string, Snapshot>>) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spirt-persist-'));
    try {
      let redis = await startRedis({ enableDebug: true, dir, args });
      let r = client(redis);
      const keys = await populate(r);
      const before = await persist(r, keys);
      r.disconnect();
      await stopChecked(redis);
      redis = await startRedis({ enableDebug: true, dir, args });
      r = client(redis);
      expectSame(before, await snapshot(r, keys));
      r.disconnect();
      await stopChecked(redis);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  test('an RDB save survives a server restart', async () => {
    await survivesRestart([], async (r, keys) => {
      const before = await snapshot(r, keys);
      expect(await r.save()).toBe('OK');
      return before;
    });
  });

  test('an AOF rewrite (TENSOR.RESTORE records) survives a restart', async () => {
    const args = ['--appendonly', 'yes', '--aof-use-rdb-preamble', 'no', '--appendfsync', 'always'];
    await survivesRestart(args, async (r, keys) => {
      await r.bgrewriteaof();
      for (let i = 0; i < 200 && (await r.info('persistence')).includes('aof_rewrite_in_progress:1'); i++) {
        await new Promise((res) => setTimeout(res, 25));
      }
      // changes after the rewrite land in the incremental AOF as replicated TENSOR.RESTORE commands
      await r.call('TENSOR.SGD', 'p', 'g', 'LR', '0.5');
      const dir = ((await r.config('GET', 'dir')) as string[])[1];
      const aofDir = path.join(dir, 'appendonlydir');
      const aof = fs.readdirSync(aofDir).map((f) => fs.readFileSync(path.join(aofDir, f), 'latin1')).join('');
      expect(aof).toContain('TENSOR.RESTORE');
      return snapshot(r, keys);
    });
  });
});

describe('replication', () => {
  let primary: RunningRedis, replica: RunningRedis;
  let rp: Redis, rr: Redis;
  beforeAll(async () => {
    primary = await startRedis({ enableDebug: true });
    // the replica runs another SIMD path: it must still hold the primary's exact bytes
    replica = await startRedis({ enableDebug: true, env: { ...process.env, SPIRT_SIMD: 'scalar' } });
    rp = client(primary);
    rr = client(replica);
  });
  afterAll(async () => {
    rp.disconnect();
    rr.disconnect();
    await Promise.all([stopChecked(primary), stopChecked(replica)]);
  });

  test('a replica receives every result byte for byte, including later in-place updates', async () => {
    const seed = ['seed'];
    await setF32(rp, 'seed', [4], Float32Array.of(1, 2, 3, 4)); // present before the full sync
    expect(await rr.call('REPLICAOF', '127.0.0.1', String(primary.port))).toBe('OK');
    for (let i = 0; i < 400 && !(await rr.info('replication')).includes('master_link_status:up'); i++) {
      await new Promise((res) => setTimeout(res, 25));
    }
    const keys = [...seed, ...(await populate(rp))];
    for (let step = 1; step <= 3; step++) {
      await rp.call('TENSOR.ADAM', 'p', 'g', 'MKEY', 'm', 'VKEY', 'v', 'LR', '0.01', 'STEP', String(step + 1));
    }
    expect(await rp.call('WAIT', '1', '5000')).toBe(1);
    expectSame(await snapshot(rp, keys), await snapshot(rr, keys));
  });
});
