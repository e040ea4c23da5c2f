// The peer-to-peer runtime as it runs: peer processes (bin/spirt.js peer, built in dist/), one private
// redis-server with the module per peer, the epoch state machine executed by aws-local-stepfunctions.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sgdStep } from '../src/kernels';
import { Model } from '../src/model/model';
import { mlpSpec } from '../src/model/spec';
import { native } from '../src/native';
import { startPeerGroup, trainPeers } from '../src/peer/launcher';
import { keys } from '../src/peer/protocol';
import { runConfig } from '../src/peer/config';
import { minibatch, stepsPerEpoch } from '../src/peer/training';
import { startRedis } from '../src/redis/launcher';
import { TensorStore } from '../src/store/tensorStore';
import { epochDefinition } from '../src/orchestrate/definition';

const BIN = path.join(__dirname, '..', 'bin', 'spirt.js');
jest.setTimeout(240_000);

function cli(args: string[], timeoutMs = 120_000): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: timeoutMs });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('the epoch definition is valid ASL (asl-validator) and every task state names a spirt/functions handler', () => {
  const validator = require('asl-validator') as (d: unknown) => { isValid: boolean; errorsText: (sep?: string) => string };
  const definition = epochDefinition();
  const result = validator(definition);
  expect(result.errorsText('\n')).toBe('');
  expect(result.isValid).toBe(true);
  const functions = require('../src/functions');
  const tasks: string[] = [];
  const visit = (states: Record<string, Record<string, unknown>>) => {
    for (const [name, s] of Object.entries(states)) {
      if (s.Type === 'Task') tasks.push(name);
      const processor = s.ItemProcessor as { States: Record<string, Record<string, unknown>> } | undefined;
      if (processor) visit(processor.States);
    }
  };
  visit(definition.States);
  const handlerOf: Record<string, string> = { Membership: 'membership', ComputeGradient: 'computeGradient', Exchange: 'exchange', Aggregate: 'aggregate', Update: 'update', Convergence: 'convergence', Recover: 'recover' };
  expect(tasks.sort()).toEqual(Object.keys(handlerOf).sort());
  for (const t of tasks) expect(typeof functions[handlerOf[t]]).toBe('function');
});

test('2 peers x 2 functions x batch 16 take the same steps as one process on the same 4 minibatches', async () => {
  const group = await startPeerGroup({ peers: 2, functions: 2, batch: 16, epochs: 1, trainLimit: 192, testLimit: 100, lr: 0.05, momentum: 0.9, heartbeatMs: 500 });
  try {
    const summary = await group.done;
    expect(summary.violations).toEqual([]);
    const store = await TensorStore.connect(group.handles[0].redis!.url);
    const bytes = (await store.getBlob(keys.params(0)))!;
    await store.close();
    const distributed = new Float32Array(new Uint8Array(bytes).buffer);
    // the reference: one model, the same 4 minibatches per step, the global mean, SGD with momentum
    const { config } = group;
    const view = { number: 1, members: [0, 1], startStep: 0, epoch: 0, stepInEpoch: 0, planMembers: [0, 1] };
    const model = new Model(mlpSpec());
    const params = model.initParams(config.seed), velocity = new Float32Array(model.paramCount);
    expect(summary.epochs[0].steps).toBe(3);
    for (let t = 0; t < 3; t++) {
      const batches = [0, 1].flatMap((p) => [0, 1].map((k) => minibatch(config, view, p, 0, t, k)));
      const { grad } = await model.gradient(params, batches);
      sgdStep(params, grad, { lr: config.lr, momentum: config.momentum, velocity, step: t + 1 });
    }
    let worst = 0;
    for (let i = 0; i < params.length; i++) worst = Math.max(worst, Math.abs(params[i] - distributed[i]) / (1e-3 + Math.abs(params[i])));
    expect(worst).toBeLessThan(1e-4);
    const initial = model.initParams(config.seed);
    expect(distributed.filter((v, i) => v !== initial[i]).length).toBeGreaterThan(model.paramCount / 10);
  } finally {
    await group.stop();
  }
});

test('shard policies: drop keeps the roster\'s shards; redistribute splits all the data among the epoch\'s members', () => {
  const urls = [0, 1, 2, 3].map((i) => `redis://127.0.0.1:${7000 + i}`);
  const afterFailure = { number: 3, members: [0, 1, 3], startStep: 40, epoch: 1, stepInEpoch: 0, planMembers: [0, 1, 3] };
  const drop = runConfig({ urls, trainLimit: 1200, batch: 10, functions: 1 });
  const redistribute = runConfig({ urls, trainLimit: 1200, batch: 10, functions: 1, shardPolicy: 'redistribute' });
  const rows = (config: typeof drop) => {
    const seen = new Map<string, number>();
    for (const peer of afterFailure.members) {
      for (let t = 0; t < stepsPerEpoch(config, afterFailure, 1); t++) {
        const { images } = minibatch(config, afterFailure, peer, 1, t, 0);
        for (let i = 0; i < 10; i++) {
          const key = Buffer.from(images.buffer, i * 784 * 4, 784 * 4).toString('base64');
          seen.set(key, (seen.get(key) ?? 0) + 1);
        }
      }
    }
    return seen;
  };
  // drop: 3 of the 4 roster shards (300 samples each) are trained on, each sample once
  expect(stepsPerEpoch(drop, afterFailure, 1)).toBe(30);
  const dropped = rows(drop);
  expect([...dropped.values()].every((n) => n === 1)).toBe(true);
  expect([...dropped.values()].length).toBeGreaterThan(880);
  // redistribute: the 1200 samples split 3 ways, every one of them trained on once
  expect(stepsPerEpoch(redistribute, afterFailure, 1)).toBe(40);
  const all = rows(redistribute);
  expect([...all.values()].every((n) => n === 1)).toBe(true);
  expect([...all.values()].length).toBeGreaterThan(1180);
});

test('peers on different SIMD paths hold bit-identical parameters and velocity after every step', async () => {
  const paths = native().simdAvailable as string[];
  const simd = [paths[0], paths[paths.length - 1], 'scalar'];
  const summary = await trainPeers({ peers: 3, functions: 2, batch: 32, epochs: 1, trainLimit: 3000, testLimit: 500, heartbeatMs: 500, digestEveryStep: true, simd });
  expect(summary.violations).toEqual([]);
  expect(summary.steps.length).toBe(3 * 15);
  expect(new Set(summary.steps.filter((s) => s.step === 14).map((s) => s.digest)).size).toBe(1);
  expect(summary.identical).toBe(true);
});

test('sharded exchange sends 2(P-1)/P of the gradient per peer per step, all-to-all P-1 gradients; both give the same training', async () => {
  const base = { peers: 4, functions: 1, batch: 32, epochs: 1, trainLimit: 1024, testLimit: 200, heartbeatMs: 500 } as const;
  const sharded = await trainPeers({ ...base, exchange: 'sharded' });
  const all = await trainPeers({ ...base, exchange: 'all-to-all' });
  const gradientBytes = new Model(mlpSpec()).paramCount * 4;
  // steps of view 1 only: a step retried after a view change (a peer suspected on a busy machine) sent twice
  const perStep = (s: typeof sharded) => s.steps.filter((x) => x.peer === 1 && x.view === 1).map((x) => x.bytesSent);
  expect(perStep(sharded).length).toBeGreaterThan(0);
  expect(perStep(all).length).toBeGreaterThan(0);
  for (const b of perStep(sharded)) expect(Math.abs(b - (2 * 3 / 4) * gradientBytes)).toBeLessThan(16);
  for (const b of perStep(all)) expect(b).toBe(3 * gradientBytes);
  expect(sharded.identical && all.identical).toBe(true);
  expect(Math.abs(sharded.epochs[0].accuracy - all.epochs[0].accuracy)).toBeLessThan(0.02);
});

test('npx spirt train --peers 4 --functions 2 --model mlp --epochs 3 reaches 85% with identical peers', () => {
  const json = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'spirt-train-')), 'summary.json');
  const r = cli(['train', '--peers', '4', '--functions', '2', '--model', 'mlp', '--epochs', '3', '--json', json], 600_000);
  expect(r.stderr.split('\n').filter((l) => l.startsWith('spirt:'))).toEqual([]);
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/epoch 3: test accuracy/);
  expect(r.stdout).toMatch(/compute\s+exchange\s+aggregate\s+update\s+wait/);
  const summary = JSON.parse(fs.readFileSync(json, 'utf8'));
  expect(summary.epochs[2].accuracy).toBeGreaterThanOrEqual(0.85);
  expect(summary.identical).toBe(true);
  expect(summary.peers).toHaveLength(4);
  expect(new Set(summary.peers.map((p: { digest: string }) => p.digest)).size).toBe(1);
  expect(summary.epochs[2].verification.verified).toBeGreaterThan(0);
  expect(summary.epochs[2].verification.tampered + summary.epochs[2].verification.wrongSigner).toBe(0);
}, 660_000);

describe('bad input is refused before training, and leaves no peer running', () => {
  const peerProcesses = () => spawnSync('pgrep', ['-f', `${BIN} peer`], { encoding: 'utf8' }).stdout.trim();
  const before = peerProcesses();

  test('--peers 0', () => {
    const r = cli(['train', '--peers', '0']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/--peers must be a whole number of at least 1/);
  });

  test('a batch larger than a shard', async () => {
    await expect(trainPeers({ peers: 2, functions: 2, batch: 512, trainLimit: 1000 })).rejects.toThrow(/holds no step of 2 functions x batch 512/);
    expect(peerProcesses()).toBe(before);
  });

  test('an unreachable peer URL', async () => {
    const redis = await startRedis();
    try {
      await expect(trainPeers({ redis: [redis.url, 'redis://127.0.0.1:1'], trainLimit: 1000 })).rejects.toMatchObject({ code: 'ERR_UNREACHABLE' });
      expect(peerProcesses()).toBe(before);
    } finally {
      await redis.stop();
    }
  });

  test('a Redis without the module', async () => {
    const [a, b] = await Promise.all([startRedis(), startRedis({ module: false })]);
    try {
      await expect(trainPeers({ redis: [a.url, b.url], trainLimit: 1000 })).rejects.toMatchObject({ code: 'ERR_NO_MODULE' });
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });

  test('peers that disagree on the model', async () => {
    const [a, b] = await Promise.all([startRedis(), startRedis()]);
    try {
      const peers = `${a.url},${b.url}`;
      const run = (id: number, model: string) => new Promise<{ code: number | null; err: string }>((resolve) => {
        const child = spawn(process.execPath, [BIN, 'peer', '--id', String(id), '--peers', peers, '--model', model, '--train-limit', '1000', '--heartbeat-ms', '200'], { stdio: ['ignore', 'ignore', 'pipe'] });
        let err = '';
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        child.on('exit', (code) => resolve({ code, err }));
      });
      const [p0, p1] = await Promise.all([run(0, 'mlp'), run(1, 'cnn')]);
      for (const p of [p0, p1]) {
        expect(p.code).toBe(1);
        expect(p.err).toMatch(/trains (mlp|cnn) \(\d+ float32 parameters\), peer \d (mlp|cnn) \(\d+ float32\): all peers must train the same model/);
      }
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });
});
