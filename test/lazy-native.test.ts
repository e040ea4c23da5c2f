// The addon loads on the first kernel or model call, never at import: the built package (dist/) copied without
// spirt.node still serves the wire format, TensorStore, the launcher and the CLI, and a kernel call then fails
// with an actionable NativeLoadError. Each case runs in a child process, which records every native binary it opens.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { rawCommand } from './helpers';

const root = path.resolve(__dirname, '..');

/** Runs `body` (an async function body given `spirt` and `opened`, the binaries dlopen'ed so far) in a child node; returns its JSON result. */
function inChild(pkg: string, body: string): Record<string, unknown> {
  const script = `
    const opened = [];
    const dlopen = process.dlopen;
    process.dlopen = function (module, file, ...rest) { opened.push(file); return dlopen.call(this, module, file, ...rest); };
    const spirt = require(${JSON.stringify(path.join(pkg, 'dist', 'index.js'))});
    (async () => { ${body} })().then(
      (r) => process.stdout.write(JSON.stringify(r)),
      (e) => { process.stderr.write(String(e && e.stack)); process.exit(3); });`;
  const env = { ...process.env };
  delete env.SPIRT_ADDON_PATH;
  delete env.SPIRT_MODULE_PATH;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env, timeout: 30_000 });
  if (r.status !== 0) throw new Error(`child exited ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** What a user can do without touching the addon: wire format, module path, a private Redis with the module, TensorStore. */
const WITHOUT_KERNELS = `
  const t = spirt.tensor('float32', [3], Float32Array.of(1, 2, 3));
  const decoded = spirt.decodeTensor(spirt.encodeTensor(t));
  const redis = await spirt.startRedis();
  const store = await spirt.TensorStore.connect(redis.url);
  try {
    await store.set('{p}:a', t);
    await store.set('{p}:b', spirt.tensor('float32', [3], Float32Array.of(3, 4, 5)));
    await store.avg('{p}:mean', ['{p}:a', '{p}:b']);
    await store.sgd('{p}:a', '{p}:mean', { lr: 0.5, momentum: 0.5, velocityKey: '{p}:v' });
    const params = await store.get('{p}:a');
    return { decoded: Array.from(decoded.data), modulePath: spirt.modulePath(), params: Array.from(params.data), opened };
  } finally {
    await store.close();
    await redis.stop();
  }`;

describe('lazy native loading', () => {
  let pkg: string;

  beforeAll(() => {
    // the built package without its addon: dist/, bin/, package.json and the Redis module only
    pkg = fs.mkdtempSync(path.join(os.tmpdir(), 'spirt-no-addon-'));
    fs.cpSync(path.join(root, 'dist'), path.join(pkg, 'dist'), { recursive: true });
    fs.cpSync(path.join(root, 'bin'), path.join(pkg, 'bin'), { recursive: true });
    fs.copyFileSync(path.join(root, 'package.json'), path.join(pkg, 'package.json'));
    fs.mkdirSync(path.join(pkg, 'build', 'Release'), { recursive: true });
    fs.copyFileSync(path.join(root, 'build', 'Release', 'spirt_redis.so'), path.join(pkg, 'build', 'Release', 'spirt_redis.so'));
    fs.chmodSync(path.join(pkg, 'build', 'Release', 'spirt_redis.so'), 0o755);
    fs.symlinkSync(path.join(root, 'node_modules'), path.join(pkg, 'node_modules'));
  });

  afterAll(() => {
    fs.rmSync(pkg, { recursive: true, force: true });
  });

  test('without the addon: import, wire format, modulePath, startRedis and TensorStore (SGD included) work', () => {
    const r = inChild(pkg, WITHOUT_KERNELS);
    expect(r.decoded).toEqual([1, 2, 3]);
    expect(r.modulePath).toBe(path.join(pkg, 'build', 'Release', 'spirt_redis.so'));
    // mean [2, 3, 4]; first step with velocity v = g: p = a - 0.5 * g
    expect(r.params).toEqual([0, 0.5, 1]);
    expect(r.opened).toEqual([]);
  });

  test('without the addon: the first kernel or model call throws NativeLoadError saying what was searched and how to fix it', () => {
    const r = inChild(pkg, `
      const attempt = (f) => { try { f(); return 'no error'; } catch (e) { return { name: e.name, code: e.code, message: e.message, isSpirt: e instanceof spirt.NativeLoadError }; } };
      return {
        mean: attempt(() => spirt.kernels.mean([Float32Array.of(1)])),
        simd: attempt(() => spirt.kernels.simd.path),
        model: attempt(() => new spirt.Model(spirt.mlpSpec())),
        opened,
      };`);
    for (const what of ['mean', 'simd', 'model']) {
      const e = r[what] as { name: string; code: string; message: string; isSpirt: boolean };
      expect(e).toMatchObject({ name: 'NativeLoadError', code: 'ERR_ADDON_MISSING', isSpirt: true });
      expect(e.message).toContain(path.join(pkg, 'build', 'Release', 'spirt.node'));
      expect(e.message).toContain(path.join(pkg, 'prebuilds', `${process.platform}-${process.arch}`, 'spirt.node'));
      expect(e.message).toContain("'npm run build:native'");
    }
    expect(r.opened).toEqual([]);
  });

  test('without the addon: spirt module-path and spirt redis work', async () => {
    const cli = path.join(pkg, 'bin', 'spirt.js');
    const modulePath = spawnSync(process.execPath, [cli, 'module-path'], { encoding: 'utf8' });
    expect(modulePath.stderr).toBe('');
    expect(modulePath.stdout.trim()).toBe(path.join(pkg, 'build', 'Release', 'spirt_redis.so'));
    expect(modulePath.status).toBe(0);

    const child = spawn(process.execPath, [cli, 'redis'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        const timer = setTimeout(() => reject(new Error(`no ready line: ${out}`)), 15_000);
        child.stdout.on('data', (d) => {
          out += d;
          if (out.includes('\n')) {
            clearTimeout(timer);
            resolve(out);
          }
        });
        child.on('exit', () => reject(new Error(`exited early: ${out}`)));
      });
      const port = Number(/127\.0\.0\.1:(\d+)/.exec(line)![1]);
      expect((await rawCommand({ port }, ['TENSOR.GET', 'nokey'])).toString()).toBe('$-1\r\n'); // the module is loaded
      const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
      child.kill('SIGINT');
      expect(await exited).toEqual({ code: 0, signal: null });
    } finally {
      child.kill('SIGKILL');
    }
  });

  test('a malformed SPIRT_THREADS fails the load with a NativeLoadError naming it', () => {
    const r = spawnSync(process.execPath, ['-e', `
      const spirt = require(${JSON.stringify(path.join(root, 'dist', 'index.js'))});
      try { spirt.kernels.dot(Float32Array.of(1), Float32Array.of(1)); } catch (e) { process.stdout.write(JSON.stringify({ name: e.name, code: e.code, message: e.message })); }`],
    { encoding: 'utf8', env: { ...process.env, SPIRT_THREADS: '0' } });
    expect(JSON.parse(r.stdout)).toMatchObject({
      name: 'NativeLoadError', code: 'ERR_ADDON_LOAD', message: expect.stringMatching(/SPIRT_THREADS must be a whole number from 1 to 1024, got '0'/),
    });
  });

  test('with the addon: importing and using the store opens no binary; the first kernel call opens spirt.node', () => {
    const r = inChild(root, `
      const before = [...opened];
      const mean = Array.from(spirt.kernels.mean([Float32Array.of(1, 2), Float32Array.of(3, 4)]));
      return { before, mean, after: opened };`);
    expect(r.before).toEqual([]);
    expect(r.mean).toEqual([2, 3]);
    expect(r.after).toEqual([path.join(root, 'build', 'Release', 'spirt.node')]);
  });
});
