import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UpdateBenchResult, runUpdateBench } from '../src/bench/update';
import * as kernels from '../src/kernels';
import { rawCommand, withRedis, writeNoAddonPreload } from './helpers';

const root = path.resolve(__dirname, '..');
const cli = path.join(root, 'bin', 'spirt.js');
const packageJson = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'spirt-bench-update-'));
}

describe('spirt bench update', () => {
  test('runs the three strategies for both optimizers on a private Redis; all leave the same bytes; JSON, table and SVG agree', () => {
    const cwd = tempDir();
    try {
      const r = spawnSync(process.execPath, [cli, 'bench', 'update', '--params', '3000,2e4', '--reps', '2'], { encoding: 'utf8', cwd, timeout: 60_000 });
      expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: expect.stringContaining('[12/12] 0.02M params, adam, client-js') });
      expect(r.stderr).toMatch(/\[ 2\/12\] 3000 params, sgd , client-native: +[\d.]+ ms, identical to in-db/);
      const out = path.join(cwd, 'spirt-bench');
      const result = JSON.parse(fs.readFileSync(path.join(out, 'update.json'), 'utf8')) as UpdateBenchResult;
      expect(result.files).toEqual({ json: path.join(out, 'update.json'), svg: path.join(out, 'update.svg') });
      expect(result.spirt).toEqual({ version: packageJson.version, simd: kernels.simd.path });
      expect(result.machine.redis).toMatch(/^\d+\.\d+/);
      expect(result).toMatchObject({ client: 'ioredis', reps: 2, steps: 3, allIdentical: true });
      expect(result.hyperparameters.sgd).toEqual({ lr: 0.01, momentum: 0.9, weightDecay: 5e-4 });
      expect(result.measurements.map((m) => `${m.params} ${m.optimizer} ${m.strategy}`)).toEqual([3000, 20000].flatMap((n) =>
        ['sgd', 'adam'].flatMap((o) => ['in-db', 'client-native', 'client-js'].map((s) => `${n} ${o} ${s}`))));
      for (const m of result.measurements) {
        expect(m.samplesMs).toHaveLength(2);
        expect(m.medianMs).toBe((m.samplesMs[0] + m.samplesMs[1]) / 2);
        if (m.strategy === 'in-db') expect(m.identicalToInDb).toBeUndefined();
        else expect({ m, identical: m.identicalToInDb, diff: m.maxAbsDiffVsInDb }).toEqual({ m, identical: true, diff: 0 });
      }
      // the headline is the largest size below ResNet-18's, where no target is set
      expect(result.headlines.map((h) => [h.optimizer, h.params, h.targetMet])).toEqual([['sgd', 20000, undefined], ['adam', 20000, undefined]]);
      const sgdAt20k = result.measurements.filter((m) => m.params === 20000 && m.optimizer === 'sgd');
      expect(result.headlines[0].reductionPct).toBeCloseTo((1 - sgdAt20k[0].medianMs / sgdAt20k[1].medianMs) * 100, 6);

      expect(r.stdout).toContain(`spirt ${packageJson.version} (${kernels.simd.path})`);
      const row = result.measurements.slice(9, 12);
      expect(r.stdout).toContain(`| 0.02M | adam | ${row.map((m) => m.medianMs.toFixed(1)).join(' | ')} | `);
      expect(r.stdout).toMatch(/\| 3000 \| sgd \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+% (less|more) time \| [\d.]+% (less|more) time \| yes \|/);
      expect(r.stdout).toContain('every strategy left the parameters and optimizer state bit-identical to in-db\'s after 3 steps');
      expect(r.stdout).toContain(`written: ${result.files.json}, ${result.files.svg}`);

      const svg = fs.readFileSync(path.join(out, 'update.svg'), 'utf8');
      expect(svg).toMatch(/^<svg [\s\S]*<\/svg>\n$/);
      expect(svg.match(/<polyline /g)).toHaveLength(6); // 3 strategies in each optimizer's panel
      expect(svg).toContain('>SGD with momentum</text>');
      expect(svg).toContain('>0.02M</text>');
    } finally {
      fs.rmSync(cwd, { recursive: true, force: true });
    }
  });

  describe('on a server of your own (--url)', () => {
    const redis = withRedis();

    test('with @redis/client and Adam only, it leaves the database as it found it', async () => {
      const outDir = tempDir();
      const lines: string[] = [];
      try {
        await rawCommand(redis.current(), ['SET', 'mine', 'kept']);
        const result = await runUpdateBench({
          url: redis.current().url, client: 'redis', optimizers: ['adam'], params: [5000], reps: 1, outDir, log: (l) => lines.push(l),
        });
        expect(lines).not.toContain('starting a private redis-server with the spirt module...');
        expect(lines).toHaveLength(4); // seeding, then one line per strategy
        expect(result).toMatchObject({ client: 'redis', steps: 2, allIdentical: true });
        expect(result.measurements.map((m) => m.strategy)).toEqual(['in-db', 'client-native', 'client-js']);
        expect((await rawCommand(redis.current(), ['KEYS', '*'])).toString()).toBe('*1\r\n$4\r\nmine\r\n');
        expect(fs.existsSync(path.join(outDir, 'update.svg'))).toBe(true);
      } finally {
        fs.rmSync(outDir, { recursive: true, force: true });
      }
    });
  });

  test('refuses bad options before any work, and its help and refusals never load the native addon', () => {
    const dir = tempDir();
    const preload = writeNoAddonPreload(dir);
    const run = (...args: string[]) => spawnSync(process.execPath, ['-r', preload, cli, 'bench', 'update', ...args], { encoding: 'utf8', cwd: dir });
    try {
      const help = run('--help');
      expect({ status: help.status, stderr: help.stderr }).toEqual({ status: 0, stderr: '' });
      expect(help.stdout).toMatch(/^usage: spirt bench update \[options\]\n[\s\S]*--params LIST +parameter counts \(default 2\.5e6,11\.69e6,25\.6e6/);
      for (const [args, message] of [
        [['--optimizer', 'sgd,rmsprop'], /--optimizer: unknown 'rmsprop' \(sgd, adam\)/],
        [['--params', '1e6,0'], /--params: '0' is not a positive number/],
        [['--client', 'jedis'], /--client must be ioredis or redis/],
        [['--rep', '3'], /unknown option '--rep' for 'spirt update'/],
      ] as const) {
        const r = run(...args);
        expect({ args, status: r.status, stderr: r.stderr }).toEqual({ args, status: 1, stderr: expect.stringMatching(message) });
      }
      // and the check itself works: a run needs the addon
      const r = run('--params', '100', '--reps', '1');
      expect(r.stderr).toMatch(/the native addon was loaded/);
      expect(fs.existsSync(path.join(dir, 'spirt-bench'))).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the API refuses a fractional rep count and an unknown optimizer', async () => {
    await expect(runUpdateBench({ reps: 1.5 })).rejects.toThrow(/--reps: 1.5 is not a positive integer/);
    await expect(runUpdateBench({ optimizers: ['lion' as 'sgd'] })).rejects.toThrow(/--optimizer: unknown 'lion'/);
  });
});
