// Fault tolerance as it runs: real peer processes and redis-servers killed with SIGKILL, paused with
// SIGSTOP, restarted from their append-only files; heartbeats kept short by configuration (200 ms).
import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PeerRecord } from '../src/peer/peer';
import { PeerGroup, startPeerGroup } from '../src/peer/launcher';
import { startRedis } from '../src/redis/launcher';
import { TensorStore } from '../src/store/tensorStore';
import { tensor } from '../src/tensor';
import { xorshift32 } from '../src/random';

const BIN = path.join(__dirname, '..', 'bin', 'spirt.js');
jest.setTimeout(600_000);

/** Resolves when `predicate` holds for a record, or rejects after `ms` (every wait is bounded). */
function recordWaiter() {
  const waiting: Array<{ test: (r: PeerRecord) => boolean; resolve: (r: PeerRecord) => void }> = [];
  return {
    feed(r: PeerRecord) {
      for (const w of [...waiting]) if (w.test(r)) waiting.splice(waiting.indexOf(w), 1), w.resolve(r);
    },
    next(test: (r: PeerRecord) => boolean, ms: number, what: string): Promise<PeerRecord> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
        waiting.push({ test, resolve: (r) => (clearTimeout(timer), resolve(r)) });
      });
    },
  };
}

test('chaos: 20 kill -9s of random peers or their servers at random moments; training finishes, no step twice or skipped, peers identical', async () => {
  const records = recordWaiter();
  const group: PeerGroup = await startPeerGroup({
    peers: 4, functions: 2, batch: 8, epochs: 3, trainLimit: 12_000, testLimit: 2000, heartbeatMs: 200,
    respawn: true, digestEveryStep: true, appendfsync: 'everysec', onRecord: (r) => records.feed(r),
  });
  const random = xorshift32(20261125);
  const kills: string[] = [];
  try {
    let lastView = 1;
    for (let k = 0; k < 20; k++) {
      // a moment inside a step: right after some peer reported one, plus 0-60 ms (compute, exchange, update, barrier)
      await records.next((r) => r.type === 'step', 60_000, 'step');
      await new Promise((r) => setTimeout(r, random() % 60));
      const victim = random() % 4, h = group.handles[victim];
      if (random() % 3 === 0) {
        kills.push(`server ${victim}`);
        process.kill(h.redis!.pid, 'SIGKILL');
      } else {
        kills.push(`process ${victim}`);
        h.process!.kill('SIGKILL');
      }
      // the survivors drop it, then it rejoins: a view with all four again, newer than the last
      const back = await records.next((r) => r.type === 'view' && r.view.number > lastView + 1 && r.view.members.length === 4 && r.view.members.includes(victim), 120_000, `peer ${victim} back after kill ${k + 1} (${kills[k]})`);
      lastView = (back as PeerRecord & { type: 'view' }).view.number;
    }
    const summary = await group.done;
    expect(kills).toHaveLength(20);
    expect(summary.violations).toEqual([]);
    expect(summary.identical).toBe(true);
    expect(summary.peers.filter((p) => p.step === Math.max(...summary.peers.map((q) => q.step)))).toHaveLength(4);
    expect(summary.epochs.map((e) => e.epoch)).toEqual([0, 1, 2]);
    expect(summary.epochs[2].accuracy).toBeGreaterThanOrEqual(0.78);
  } finally {
    await group.stop();
  }
});

test('a peer process paused past detection is excluded; when it resumes it finds itself out of the view and rejoins as new', async () => {
  const records = recordWaiter();
  const all: PeerRecord[] = [];
  const group = await startPeerGroup({
    peers: 3, functions: 1, batch: 16, epochs: 2, trainLimit: 3600, testLimit: 1000, heartbeatMs: 200, digestEveryStep: true,
    onRecord: (r) => (all.push(r), records.feed(r)),
  });
  try {
    await records.next((r) => r.type === 'step' && r.step === 10, 60_000, 'step 10');
    const paused = group.handles[2].process!;
    paused.kill('SIGSTOP');
    const without = await records.next((r) => r.type === 'view' && !r.view.members.includes(2), 30_000, 'a view without peer 2');
    // the survivors go on without it for a while
    await records.next((r) => r.type === 'step' && r.view === (without as { view: { number: number } }).view.number && r.stepInEpoch % 5 === 0, 30_000, 'steps without peer 2');
    paused.kill('SIGCONT');
    const rejoin = await records.next((r) => r.type === 'rejoin' && r.peer === 2, 30_000, 'peer 2 noticing it is out');
    expect((rejoin as { reason: string }).reason).toMatch(/without peer 2|excludes peer 2|cannot publish/);
    await records.next((r) => r.type === 'view' && r.peer === 2 && r.view.members.includes(2), 60_000, 'peer 2 readmitted');
    const summary = await group.done;
    expect(summary.violations).toEqual([]);
    expect(summary.identical).toBe(true);
    expect(summary.peers).toHaveLength(3);
  } finally {
    await group.stop();
  }
});

describe('joining a running group', () => {
  let servers: Array<Awaited<ReturnType<typeof startRedis>>> = [];
  const peers: ChildProcess[] = [];
  const common = ['--functions', '1', '--batch', '8', '--epochs', '2', '--train-limit', '8000', '--test-limit', '1000', '--heartbeat-ms', '200'];
  const runPeer = (id: number, extra: string[]) => {
    const child = spawn(process.execPath, [BIN, 'peer', '--id', String(id), '--peers', servers.map((s) => s.url).join(','), ...common, '--report', 'jsonl', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
    peers.push(child);
    let out = '', err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const exit = new Promise<{ code: number | null; out: string; err: string }>((resolve) => child.on('exit', (code) => resolve({ code, out, err })));
    return { child, exit, records: () => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as PeerRecord) };
  };
  afterAll(async () => {
    for (const p of peers) if (p.exitCode === null) p.kill('SIGKILL');
    await Promise.all(servers.map((s) => s.stop()));
  });

  test('a duplicate id and a model that does not match are refused, a replacement joins, training goes on', async () => {
    servers = await Promise.all([0, 1, 2].map(() => startRedis()));
    const group = [0, 1, 2].map((id) => runPeer(id, []));
    const until = async (pred: () => boolean, ms: number, what: string) => {
      const end = Date.now() + ms;
      while (!pred()) {
        if (Date.now() > end) throw new Error(`no ${what} within ${ms} ms`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    await until(() => group[0].records().some((r) => r.type === 'step' && r.step >= 5), 60_000, 'training');
    // peer 1 is alive: a second process claiming its id gives up once it sees the live heartbeat
    const duplicate = await runPeer(1, ['--join']).exit;
    expect(duplicate.code).toBe(1);
    expect(duplicate.err).toMatch(/duplicate peer id 1/);
    group[2].child.kill('SIGKILL');
    await until(() => group[0].records().some((r) => r.type === 'view' && !r.view.members.includes(2)), 30_000, 'a view without peer 2');
    const mismatch = await runPeer(2, ['--join', '--model', 'cnn']).exit;
    expect(mismatch.code).toBe(1);
    expect(mismatch.err).toMatch(/refused peer 2: model mismatch/);
    // that refusal stays in the members' databases: the replacement must tell it from an answer to its own request
    const member0 = await TensorStore.connect(servers[0].url);
    expect(JSON.parse(String(await member0.command('GET', '{peer0}:pub:join-reply:2'))).reason).toMatch(/model mismatch/);
    await member0.close();
    const replacement = runPeer(2, ['--join']);
    const [a, b, c] = await Promise.all([group[0].exit, group[1].exit, replacement.exit]);
    for (const r of [a, b, c]) expect({ code: r.code, err: r.err }).toEqual({ code: 0, err: '' });
    const done = [a, b, c].map((r) => r.out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as PeerRecord).find((x) => x.type === 'done') as PeerRecord & { type: 'done' });
    expect(new Set(done.map((d) => d.digest)).size).toBe(1);
    expect(new Set(done.map((d) => d.step)).size).toBe(1);
  });
});

test.each(['always', 'everysec'])('a server killed with SIGKILL comes back from its append-only file (appendfsync %s) with every acknowledged update', async (fsync) => {
  const first = await startRedis({ args: ['--appendonly', 'yes', '--appendfsync', fsync] });
  const dir = first.dir, port = first.port!;
  const store = await TensorStore.connect(first.url);
  const n = 10_000, next = xorshift32(7);
  const values = () => Float32Array.from({ length: n }, () => (next() / 2 ** 32) - 0.5);
  await store.set('{peer0}:pub:params', tensor('float32', [n], values()));
  for (let step = 1; step <= 25; step++) {
    await store.set('{peer0}:grad', tensor('float32', [n], values()));
    await store.command('TENSOR.SGD', '{peer0}:pub:params', '{peer0}:grad', 'LR', '0.1', 'MOMENTUM', '0.9', 'VELOCITY', '{peer0}:pub:velocity', 'VERSION', String(step));
  }
  const acknowledged = [await store.getBlob('{peer0}:pub:params'), await store.getBlob('{peer0}:pub:velocity')];
  await store.close();
  process.kill(first.pid, 'SIGKILL');
  await new Promise((r) => setTimeout(r, 100));
  const again = await startRedis({ dir, port, args: ['--appendonly', 'yes', '--appendfsync', fsync] });
  try {
    const back = await TensorStore.connect(again.url);
    expect(await back.getBlob('{peer0}:pub:params')).toEqual(acknowledged[0]);
    expect(await back.getBlob('{peer0}:pub:velocity')).toEqual(acknowledged[1]);
    expect((await back.meta('{peer0}:pub:params'))!.version).toBe(25);
    await back.close();
  } finally {
    await again.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
