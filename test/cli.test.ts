import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { modulePath } from '../src/redis/modulePath';
import { startRedis } from '../src/redis/launcher';
import { rawCommand } from './helpers';

const root = path.resolve(__dirname, '..');
const cli = path.join(root, 'bin', 'spirt.js');

describe('spirt CLI (built package)', () => {
  test('module-path prints the absolute module path', () => {
    const r = spawnSync(process.execPath, [cli, 'module-path'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe(modulePath());
  });

  test('an unknown command fails with usage', () => {
    const r = spawnSync(process.execPath, [cli, 'frobnicate'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/unknown command 'frobnicate'/);
    expect(r.stderr).toMatch(/usage: spirt/);
  });

  test('redis runs a server with the module in the foreground until SIGINT', async () => {
    const child = spawn(process.execPath, [cli, 'redis'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d) => {
          out += d;
          if (out.includes('\n')) resolve(out);
        });
        child.on('exit', () => reject(new Error(`exited early: ${out}`)));
      });
      const port = Number(/127\.0\.0\.1:(\d+)/.exec(line)![1]);
      expect((await rawCommand({ port }, ['TENSOR.GET', 'nokey'])).toString()).toBe('$-1\r\n'); // module loaded
      const exited = new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })));
      child.kill('SIGINT');
      expect(await exited).toEqual({ code: 0, signal: null });
      await expect(rawCommand({ port }, ['PING'])).rejects.toThrow();
    } finally {
      child.kill('SIGKILL');
    }
  });

  test('redis on a taken port exits non-zero naming the port, prints no ready, and leaves the other server running', async () => {
    const other = await startRedis({ module: false });
    try {
      const r = spawnSync(process.execPath, [cli, 'redis', '--port', String(other.port)], { encoding: 'utf8', timeout: 20_000 });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(`port ${other.port} is already in use`);
      expect(r.stdout).not.toMatch(/ready/);
      expect((await rawCommand(other, ['PING'])).toString()).toBe('+PONG\r\n');
    } finally {
      await other.stop();
    }
    for (const port of ['99999', '-1', '1.5', 'x']) {
      const bad = spawnSync(process.execPath, [cli, 'redis', '--port', port], { encoding: 'utf8', timeout: 20_000 });
      expect(bad.status).toBe(1);
      expect(bad.stderr).toMatch(/^spirt: port must be an integer from 1 to 65535/);
      expect(bad.stdout).toBe('');
    }
  });

  test('train --local trains the MLP on Fashion-MNIST and reports test accuracy', () => {
    const r = spawnSync(process.execPath, [cli, 'train', '--local', '--model', 'mlp', '--epochs', '1', '--batch', '128'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/training mlp on Fashion-MNIST \(60000 train \/ 10000 test\), 1 epochs, batch 128 x 2/);
    const accuracy = Number(/test accuracy ([\d.]+)%/.exec(r.stdout)![1]);
    expect(accuracy).toBeGreaterThan(75);
    expect(r.stderr).toMatch(/epoch 1\/1 100% loss/);
  });

  test('train refuses what it cannot do', () => {
    const noLocal = spawnSync(process.execPath, [cli, 'train', '--model', 'mlp'], { encoding: 'utf8' });
    expect(noLocal.status).toBe(1);
    expect(noLocal.stderr).toMatch(/only --local training/);
    const badModel = spawnSync(process.execPath, [cli, 'train', '--local', '--model', 'resnet'], { encoding: 'utf8' });
    expect(badModel.stderr).toMatch(/--model must be mlp or cnn/);
    const typo = spawnSync(process.execPath, [cli, 'train', '--local', '--epoch', '3'], { encoding: 'utf8' });
    expect(typo.status).toBe(1);
    expect(typo.stderr).toMatch(/unknown option --epoch for 'train'/);
  });

  test('bench averaging runs all three strategies on a private Redis and writes JSON and SVG', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'spirt-bench-'));
    try {
      const r = spawnSync(process.execPath, [cli, 'bench', 'averaging', '--params', '2e4', '--peers', '2,3', '--reps', '1', '--out', out],
        { encoding: 'utf8' });
      expect(r.status).toBe(0);
      expect(r.stderr).toMatch(/\[ 6\/6\] 0.02M params x  3 peers, lua/);
      expect(r.stdout).toMatch(/\| 0.02M \| 3 \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+% less time \| \d+x faster \|/);
      const result = JSON.parse(fs.readFileSync(path.join(out, 'averaging.json'), 'utf8'));
      expect(result.measurements).toHaveLength(6);
      for (const m of result.measurements) {
        if (m.strategy !== 'in-db') expect(m.maxAbsDiffVsInDb).toBeLessThan(1e-6);
      }
      expect(result.machine.redis).toMatch(/^\d+\.\d+/);
      expect(fs.readFileSync(path.join(out, 'averaging.svg'), 'utf8')).toMatch(/^<svg [\s\S]*<polyline[\s\S]*<\/svg>\n$/);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  test('bench averaging validates its options', () => {
    const r = spawnSync(process.execPath, [cli, 'bench', 'averaging', '--peers', '2,x'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/--peers: 'x' is not a positive number/);
    const s = spawnSync(process.execPath, [cli, 'bench', 'averaging', '--strategies', 'in-db,gpu'], { encoding: 'utf8' });
    expect(s.stderr).toMatch(/--strategies: unknown 'gpu'/);
  });
});
