import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { modulePath } from '../src/redis/modulePath';
import { startRedis } from '../src/redis/launcher';
import * as kernels from '../src/kernels';
import { rawCommand, writeNoAddonPreload } from './helpers';

const root = path.resolve(__dirname, '..');
const cli = path.join(root, 'bin', 'spirt.js');
const packageJson = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };

function run(args: string[]) {
  return spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 30_000 });
}

/** The port a running `spirt redis` reports in its ready line. */
function readyPort(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const port = /ready at redis:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1];
      if (port) resolve(Number(port));
    });
    child.on('exit', () => reject(new Error(`exited early: ${out}`)));
  });
}

describe('spirt CLI (built package)', () => {
  test('--help and -h print the commands and exit 0; no command is usage on stderr and exit 1', () => {
    for (const flag of ['--help', '-h', 'help']) {
      const r = run([flag]);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/^usage: spirt <command>/);
      for (const command of ['module-path', 'redis', 'bench', 'train', 'asl', 'layer']) expect(r.stdout).toMatch(new RegExp(`\\n  ${command} +\\S`));
    }
    const none = run([]);
    expect(none.status).toBe(1);
    expect(none.stderr).toMatch(/^usage: spirt <command>/);
    const unknown = run(['--frobnicate']);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toMatch(/^spirt: unknown option '--frobnicate'/);
  });

  test('--version prints the package version', () => {
    const r = run(['--version']);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`${packageJson.version}\n`);
  });

  test.each(['module-path', 'redis', 'bench', 'bench averaging', 'train', 'asl', 'asl export'])('spirt %s --help (and spirt help) show its usage', (name) => {
    const command = name.split(' ');
    for (const args of [[...command, '--help'], [...command, '-h'], ...(command.length === 1 ? [['help', ...command]] : [])]) {
      const r = run(args);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^usage: spirt ${command.join(' ')}`));
    }
  });

  test('bench alone lists the benchmarks; an unknown one is an error that lists them', () => {
    const r = run(['bench']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^benchmarks .*\n  averaging +in-database vs client-side vs Lua/);
    const bad = run(['bench', 'nope']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/^spirt: unknown benchmark 'nope'\nbenchmarks[\s\S]*averaging/);
  });

  test('options are strict: unknown ones, missing values and stray arguments are errors', () => {
    for (const [args, message] of [
      [['module-path', 'extra'], /unexpected argument 'extra' for 'spirt module-path'/],
      [['redis', '--port'], /option '--port <value>' argument missing for 'spirt redis'/],
      [['redis', '--unix=yes'], /option '--unix' does not take an argument/],
      [['bench', 'averaging', '--peer', '2'], /unknown option '--peer' for 'spirt averaging'/],
    ] as const) {
      const r = run([...args]);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(message);
    }
  });

  test('module-path, redis, help, version and the benchmark list never load the native addon', async () => {
    // a preload that makes loading spirt.node fatal: these commands must work without it
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spirt-no-addon-'));
    const preload = writeNoAddonPreload(dir);
    try {
      for (const args of [['module-path'], ['--help'], ['--version'], ['bench'], ['bench', 'averaging', '--help'], ['train', '--help'], ['redis', '--help']]) {
        const r = spawnSync(process.execPath, ['-r', preload, cli, ...args], { encoding: 'utf8' });
        expect({ args, status: r.status, stderr: r.stderr }).toEqual({ args, status: 0, stderr: '' });
      }
      const redis = spawn(process.execPath, ['-r', preload, cli, 'redis'], { stdio: ['ignore', 'pipe', 'pipe'] });
      try {
        const port = await readyPort(redis);
        expect((await rawCommand({ port }, ['TENSOR.GET', 'nokey'])).toString()).toBe('$-1\r\n');
      } finally {
        redis.kill('SIGINT');
      }
      // and the check itself works: a command that needs the addon dies of it
      const train = spawnSync(process.execPath, ['-r', preload, cli, 'train', '--local', '--epochs', '1'], { encoding: 'utf8' });
      expect(train.status).not.toBe(0);
      expect(train.stderr).toMatch(/the native addon was loaded/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

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
      const port = await readyPort(child);
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
    for (const [port, message] of [
      ['99999', /^spirt: port must be an integer from 1 to 65535, got 99999\n$/],
      ['-1', /^spirt: port must be an integer from 1 to 65535, got -1\n$/],
      ['1.5', /^spirt: port must be an integer from 1 to 65535, got 1.5\n$/],
      ['x', /^spirt: --port: 'x' is not a number\n$/],
    ] as const) {
      const bad = run(['redis', `--port=${port}`]);
      expect(bad.status).toBe(1);
      expect(bad.stderr).toMatch(message);
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

  test('train refuses what it cannot do before it starts any server', () => {
    // a redis-server that cannot start: a refusal that came after starting one would name it instead
    const train = (args: string[]) => spawnSync(process.execPath, [cli, 'train', ...args],
      { encoding: 'utf8', timeout: 30_000, env: { ...process.env, SPIRT_REDIS_SERVER: path.join(os.tmpdir(), 'no-such-dir', 'redis-server') } });
    for (const [args, message] of [
      [['--peers', '0'], /^spirt: --peers must be a whole number of at least 1, got 0\n$/],
      [['--peers', '2.5'], /^spirt: --peers must be a whole number of at least 1, got 2\.5\n$/],
      [['--peers', '2', '--exchange', 'gossip'], /^spirt: --exchange must be sharded or all-to-all, got 'gossip'\n$/],
      [['--shard-policy', 'keep'], /^spirt: --shard-policy must be drop or redistribute, got 'keep'\n$/],
      [['--rule', 'vote'], /^spirt: --rule must be mean, median, trimmed:K, krum:F or cclip:TAU, got 'vote'\n$/],
      [['--peers', '2', '--model', 'resnet'], /^spirt: --model must be mlp or cnn, got 'resnet'\n$/],
      [['--local', '--model', 'resnet'], /^spirt: --model must be mlp or cnn\n$/],
      [['--local', '--epoch', '3'], /^spirt: unknown option '--epoch' for 'spirt train' \(see spirt train --help\)\n$/],
    ] as const) {
      const r = train([...args]);
      expect(r.stderr).toMatch(message);
      expect(r.status).toBe(1);
      expect(r.stdout).toBe('');
    }
    // the same environment does reach the launcher once the options are valid
    expect(train(['--peers', '1', '--epochs', '1']).stderr).toMatch(/SPIRT_REDIS_SERVER=.*no-such-dir\/redis-server does not exist/);
  });

  test('bench averaging runs all three strategies on a private Redis and writes JSON and SVG to ./spirt-bench', () => {
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'spirt-bench-'));
    try {
      const r = spawnSync(process.execPath, [cli, 'bench', 'averaging', '--params', '2e4', '--peers', '2,3', '--reps', '1'],
        { encoding: 'utf8', cwd });
      expect(r.status).toBe(0);
      expect(r.stderr).toMatch(/\[ 6\/6\] 0.02M params x  3 peers, lua/);
      expect(r.stdout).toMatch(/\| 0.02M \| 3 \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+% (less|more) time \| \d+x faster \|/);
      const out = path.join(cwd, 'spirt-bench');
      expect(r.stdout).toContain(`written: ${path.join(out, 'averaging.json')}, ${path.join(out, 'averaging.svg')}`);
      const result = JSON.parse(fs.readFileSync(path.join(out, 'averaging.json'), 'utf8'));
      expect(result.measurements).toHaveLength(6);
      for (const m of result.measurements) {
        if (m.strategy !== 'in-db') expect(m.maxAbsDiffVsInDb).toBeLessThan(1e-6);
      }
      expect(result.machine.redis).toMatch(/^\d+\.\d+/);
      expect(result.spirt).toEqual({ version: packageJson.version, simd: kernels.simd.path });
      expect(fs.readFileSync(path.join(out, 'averaging.svg'), 'utf8')).toMatch(/^<svg [\s\S]*<polyline[\s\S]*<\/svg>\n$/);
    } finally {
      fs.rmSync(cwd, { recursive: true, force: true });
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
