// The npm package as a user gets it: prebuilt binaries within AWS Lambda's glibc/libstdc++, a tarball that ships
// no tests or build intermediates, an install with cmake/g++/make out of reach that uses the prebuild (CJS and
// ESM), the arm64 addon loaded by a real arm64 node under qemu, and Lambda layers. Needs `npm run prebuilds`
// (npm test runs it first) and Debian's arm64 node in .cache/node-arm64 (npm run setup fetches it).
import { SpawnSyncReturns, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(__dirname, '..');
const ARCHES = ['x64', 'arm64'] as const;
const FILES = ['spirt.node', 'spirt_redis.so'];
/** AWS Lambda's Node.js runtimes run on Amazon Linux 2023: glibc 2.34, libstdc++ of GCC 11 */
const LIMITS: Record<string, string> = { GLIBC: '2.34', GLIBCXX: '3.4.29', CXXABI: '1.3.13' };
const ARM64_NODE = path.join(root, '.cache', 'node-arm64');

function versionAbove(a: string, b: string): boolean {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) > (y[i] ?? 0);
  return false;
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  if (r.error || r.status !== 0) throw new Error(`${what} failed (${r.error?.message ?? `exit ${r.status}`}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** npm's own CLI script, so npm runs under a PATH that holds only node and sh */
function npmCli(): string {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const npm = path.join(dir, 'npm');
    if (fs.existsSync(npm)) return fs.realpathSync(npm);
  }
  throw new Error('npm not found on PATH');
}

function prebuilt(arch: string, file: string): string {
  const at = path.join(root, 'prebuilds', `linux-${arch}`, file);
  if (!fs.existsSync(at)) throw new Error(`${at} is missing: run 'npm run prebuilds' (npm test does)`);
  return at;
}

describe.each(ARCHES)('prebuilds/linux-%s', (arch) => {
  test.each(FILES)('%s: for this architecture, as the manifest records, no symbol version above Lambda\'s', (file) => {
    const at = prebuilt(arch, file);
    const header = ok(spawnSync('readelf', ['-h', at], { encoding: 'utf8' }), 'readelf -h');
    expect(header).toMatch(arch === 'x64' ? /Machine:\s+Advanced Micro Devices X86-64/ : /Machine:\s+AArch64/);

    const symbols = ok(spawnSync('objdump', ['-T', at], { encoding: 'utf8', maxBuffer: 64 << 20 }), 'objdump -T');
    const versions = [...symbols.matchAll(/\b(GLIBC|GLIBCXX|CXXABI)_([0-9.]+)/g)].map(([, kind, v]) => ({ kind, v }));
    expect(versions.filter(({ kind }) => kind === 'GLIBC').length).toBeGreaterThan(0);
    expect(versions.filter(({ kind, v }) => versionAbove(v, LIMITS[kind])).map(({ kind, v }) => `${kind}_${v}`)).toEqual([]);
    // libstdc++ and libgcc stay shared (Lambda has them); libcrypto, if the module uses it, is dlopen'ed, never linked
    const needed = [...ok(spawnSync('readelf', ['-d', at], { encoding: 'utf8' }), 'readelf -d').matchAll(/\(NEEDED\).*\[(.+)\]/g)].map((m) => m[1]);
    for (const lib of needed) expect(['libc.so.6', 'libm.so.6', 'libstdc++.so.6', 'libgcc_s.so.1']).toContain(lib);

    const manifest = JSON.parse(fs.readFileSync(path.join(path.dirname(at), 'manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({ platform: 'linux', arch, glibc: expect.stringMatching(/^2\.\d+$/) });
    expect(manifest.files[file].sha256).toBe(crypto.createHash('sha256').update(fs.readFileSync(at)).digest('hex'));
  });
});

describe('the npm package, installed without a compiler', () => {
  let work: string;
  let app: string;
  let installed: string;
  let tarball: string;
  let packed: string[];
  let installLog: string;
  /** PATH with node and sh only: no cmake, make, g++, cc */
  let bare: NodeJS.ProcessEnv;

  const inApp = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    spawnSync(process.execPath, args, { cwd: app, encoding: 'utf8', env: { ...bare, ...env } });

  beforeAll(() => {
    for (const arch of ARCHES) for (const file of FILES) prebuilt(arch, file);
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'spirt-packaging-'));
    // dist/ is already built (npm test type-checks and builds before jest); pack it as it is
    const pack = JSON.parse(ok(spawnSync(process.execPath, [npmCli(), 'pack', '--ignore-scripts', '--json', '--pack-destination', work],
      { cwd: root, encoding: 'utf8' }), 'npm pack'))[0];
    tarball = path.join(work, pack.filename);
    packed = pack.files.map((f: { path: string }) => f.path);

    const bin = path.join(work, 'bin');
    fs.mkdirSync(bin);
    fs.symlinkSync(process.execPath, path.join(bin, 'node'));
    fs.symlinkSync(fs.realpathSync('/bin/sh'), path.join(bin, 'sh'));
    bare = { HOME: process.env.HOME, PATH: bin, SPIRT_REDIS_SERVER: spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).stdout.trim() };

    // an empty project whose lockfile pins spirt to the tarball and its dependencies to the versions this checkout
    // installed, so `npm ci --offline` installs from npm's cache (filled by npm ci in setup): no download here
    app = path.join(work, 'app');
    fs.mkdirSync(app);
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
    const lock = JSON.parse(fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8'));
    const spec = `file:../${pack.filename}`;
    const packages: Record<string, unknown> = {
      '': { name: 'app', version: '1.0.0', dependencies: { spirt: spec } },
      'node_modules/spirt': {
        version: pkg.version, resolved: spec, hasInstallScript: true, license: pkg.license, bin: pkg.bin, engines: pkg.engines,
        integrity: `sha512-${crypto.createHash('sha512').update(fs.readFileSync(tarball)).digest('base64')}`,
        dependencies: pkg.dependencies, peerDependencies: pkg.peerDependencies, peerDependenciesMeta: pkg.peerDependenciesMeta,
      },
    };
    for (const [at, entry] of Object.entries(lock.packages as Record<string, { dev?: boolean }>)) {
      if (at.startsWith('node_modules/') && !entry.dev) packages[at] = entry;
    }
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, dependencies: { spirt: spec } }));
    fs.writeFileSync(path.join(app, 'package-lock.json'), JSON.stringify({ name: 'app', version: '1.0.0', lockfileVersion: 3, requires: true, packages }));
    installLog = ok(spawnSync(process.execPath, [npmCli(), 'ci', '--offline', '--no-audit', '--no-fund', '--foreground-scripts'],
      { cwd: app, encoding: 'utf8', env: bare }), 'npm ci of the packed tarball');
    installed = path.join(app, 'node_modules', 'spirt');
  }, 180_000);

  afterAll(() => {
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  test('the tarball ships the prebuilds, the compiled code, the ESM entries and the sources for a fallback build; no tests, results or build trees', () => {
    for (const arch of ARCHES) for (const file of [...FILES, 'manifest.json']) expect(packed).toContain(`prebuilds/linux-${arch}/${file}`);
    for (const file of ['dist/index.js', 'dist/index.d.ts', 'esm/index.mjs', 'esm/functions.mjs', 'esm/tfjs.mjs', 'dist/adapters/tfjs.js',
      'scripts/install.js', 'CMakeLists.txt', 'packaging/glibcxx_compat.h', 'native/kernels/dispatch.c', 'redis-module/module.c', 'bin/spirt.js']) {
      expect(packed).toContain(file);
    }
    const unwanted = packed.filter((f) => /^(test|bench|build|build-prebuilds|src|proto|\.cache|examples)\//.test(f) || f.endsWith('.map') ||
      f.endsWith('.tgz') || f === 'packaging/prebuild.js');
    expect(unwanted).toEqual([]);
  });

  test('cmake, make and g++ are out of reach, and the install used the prebuilt binaries', () => {
    for (const tool of ['cmake', 'make', 'g++', 'cc']) {
      expect(spawnSync('sh', ['-c', `command -v ${tool}`], { env: bare }).status).not.toBe(0);
    }
    expect(installLog).toContain(`spirt: using the prebuilt binaries in prebuilds/linux-${process.arch}/`);
    expect(fs.existsSync(path.join(installed, 'build'))).toBe(false);
  });

  test('require and import both work, run a kernel and start an embedded Redis with the shipped module', () => {
    const script = `
      const cjs = require('spirt');
      const mean = Array.from(cjs.kernels.mean([Float32Array.of(1, 2), Float32Array.of(3, 6)]));
      const esm = await import('spirt');
      const redis = await esm.startRedis();
      try {
        const store = await esm.TensorStore.connect(redis.url);
        await store.set('{p}:g', esm.tensor('float32', [2], Float32Array.of(1, 2)));
        await store.set('{p}:h', esm.tensor('float32', [2], Float32Array.of(3, 6)));
        await store.avg('{p}:m', ['{p}:g', '{p}:h']);
        const avg = Array.from((await store.get('{p}:m')).data);
        await store.close();
        console.log(JSON.stringify({ mean, avg, same: esm.default === cjs && esm.kernels === cjs.kernels, modulePath: esm.modulePath(),
          addons: Object.keys(require.cache).filter((f) => f.endsWith('.node')) }));
      } finally {
        await redis.stop();
      }`;
    const r = inApp(['--input-type=commonjs', '-e', `(async () => {${script}})().catch((e) => { console.error(e); process.exit(1); })`]);
    const out = JSON.parse(ok(r, 'the installed package'));
    const dir = path.join(fs.realpathSync(installed), 'prebuilds', `linux-${process.arch}`);
    expect(out).toEqual({ mean: [2, 4], avg: [2, 4], same: true, modulePath: path.join(dir, 'spirt_redis.so'), addons: [path.join(dir, 'spirt.node')] });
  });

  test('an ES module importing spirt by name gets its named exports; spirt/tfjs resolves through the exports map', () => {
    fs.writeFileSync(path.join(app, 'main.mjs'), `import { kernels, TensorStore, NativeLoadError } from 'spirt';
      import { createRequire } from 'node:module';
      const require = createRequire(import.meta.url);
      console.log(JSON.stringify({ dot: kernels.dot(Float32Array.of(1, 2), Float32Array.of(3, 4)), store: typeof TensorStore,
        error: typeof NativeLoadError, tfjs: require.resolve('spirt/tfjs'), tfjsEsm: import.meta.resolve('spirt/tfjs') }));`);
    const out = JSON.parse(ok(inApp(['main.mjs']), 'main.mjs'));
    expect(out).toMatchObject({ dot: 11, store: 'function', error: 'function' });
    expect(out.tfjs).toBe(path.join(fs.realpathSync(installed), 'dist', 'adapters', 'tfjs.js'));
    expect(out.tfjsEsm).toMatch(/\/node_modules\/spirt\/esm\/tfjs\.mjs$/);
    // the exports map keeps the package's insides private
    expect(inApp(['-e', "require('spirt/dist/binaries.js')"]).stderr).toContain('ERR_PACKAGE_PATH_NOT_EXPORTED');
  });

  test('a corrupted prebuild is refused with a sentence, and rebuilding without a compiler says what is missing', () => {
    const addon = path.join(installed, 'prebuilds', `linux-${process.arch}`, 'spirt.node');
    const original = fs.readFileSync(addon);
    try {
      const flipped = Buffer.from(original);
      flipped[flipped.length >> 1] ^= 0xff;
      fs.writeFileSync(addon, flipped);
      const load = inApp(['-e', `try { require('spirt').kernels.mean([Float32Array.of(1)]); } catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message })); }`]);
      const e = JSON.parse(ok(load, 'loading a corrupted prebuild'));
      expect(e).toMatchObject({ name: 'NativeLoadError', code: 'ERR_BINARY_INVALID' });
      expect(e.message).toContain(`${fs.realpathSync(addon)} is corrupted: its sha256 is`);
      expect(e.message).toContain('SPIRT_BUILD_FROM_SOURCE=1 npm rebuild spirt');

      const rebuild = inApp([path.join(installed, 'scripts', 'install.js')]);
      expect(rebuild.status).toBe(1);
      expect(rebuild.stdout).toContain('building the addon and the Redis module from source');
      expect(rebuild.stdout).toContain('is corrupted');
      expect(rebuild.stderr).toContain(`cannot build from source for linux-${process.arch}: cmake, make, g++ not found on PATH`);
    } finally {
      fs.writeFileSync(addon, original);
    }
    const forced = inApp([path.join(installed, 'scripts', 'install.js')], { SPIRT_BUILD_FROM_SOURCE: '1' });
    expect(forced.status).toBe(1);
    expect(forced.stdout).toContain('from source: SPIRT_BUILD_FROM_SOURCE=1 is set');
    expect(inApp([path.join(installed, 'scripts', 'install.js')]).stdout).toContain('using the prebuilt binaries');
  });

  test('the arm64 prebuild loads in Debian\'s arm64 node under qemu and gives the x64 bytes', () => {
    const node = path.join(ARM64_NODE, 'usr', 'bin', 'node');
    if (!fs.existsSync(node)) throw new Error(`${node} is missing: run 'npm run setup' (scripts/fetch-arm64-node.sh unpacks it)`);
    // the same kernels on the same inputs: every SIMD path gives the same bytes (gemm aside)
    const script = `const spirt = require(${JSON.stringify(installed)});
      const k = spirt.kernels;
      const x = new Float32Array(4099).map((_, i) => Math.sin(i * 0.37) * 3);
      const y = new Float32Array(4099).map((_, i) => Math.cos(i * 0.11));
      const p = x.slice(), m = new Float32Array(x.length), v = new Float32Array(x.length);
      k.adamStep(p, y, { m, v }, { lr: 1e-3, step: 1, decoupled: true, weightDecay: 0.01 });
      const mean = k.mean([x, y, p]);
      const hash = require('node:crypto').createHash('sha256').update(Buffer.from(mean.buffer)).update(Buffer.from(p.buffer)).digest('hex');
      console.log(JSON.stringify({ arch: process.arch, simd: k.simd.path, hash, dot: k.dot(x, y),
        addon: Object.keys(require.cache).filter((f) => f.endsWith('.node')).map((f) => f.split('/').slice(-2).join('/')) }));`;
    const arm = JSON.parse(ok(spawnSync('qemu-aarch64', ['-L', ARM64_NODE, node, '-e', script], { encoding: 'utf8', timeout: 120_000 }), 'arm64 node under qemu'));
    const here = JSON.parse(ok(spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' }), 'x64 node'));
    expect(arm).toMatchObject({ arch: 'arm64', simd: 'neon', addon: ['linux-arm64/spirt.node'] });
    expect(here.addon).toEqual([`linux-${process.arch}/spirt.node`]);
    expect(arm.hash).toBe(here.hash);
    expect(arm.dot).toBe(here.dot);
  }, 150_000);

  describe.each(ARCHES)('spirt layer --arch %s', (arch) => {
    let zip: string;
    let listing: string;
    let cli: string;

    beforeAll(() => {
      zip = path.join(work, `spirt-layer-${arch}.zip`);
      cli = ok(inApp([path.join(installed, 'bin', 'spirt.js'), 'layer', '--arch', arch, '--out', zip]), 'spirt layer');
      listing = ok(spawnSync('unzip', ['-l', zip], { encoding: 'utf8', maxBuffer: 64 << 20 }), 'unzip -l');
    });

    test('a nodejs/node_modules zip under 10 MB with spirt, its runtime dependencies and only this architecture\'s binaries', () => {
      const zipped = fs.statSync(zip).size;
      expect(cli).toContain(`${zip}: ${(zipped / 1e6).toFixed(2)} MB zipped, `);
      expect(zipped).toBeLessThan(10e6);
      const names = listing.split('\n').map((l) => l.trim().split(/\s+/)[3]).filter((n) => n?.startsWith('nodejs/'));
      expect(names.every((n) => n.startsWith('nodejs/node_modules/'))).toBe(true);
      for (const file of [...FILES, 'manifest.json']) expect(names).toContain(`nodejs/node_modules/spirt/prebuilds/linux-${arch}/${file}`);
      for (const dep of ['ioredis', 'protobufjs']) expect(names).toContain(`nodejs/node_modules/${dep}/package.json`);
      const unwanted = names.filter((n) => (n.includes('/prebuilds/') && !n.includes(`/prebuilds/linux-${arch}/`)) ||
        /\/(cmake-js|node-addon-api|node-api-headers|aws-local-stepfunctions|@aws-sdk)\//.test(n) ||
        /spirt\/(native|redis-module|scripts|build)\//.test(n) || n.endsWith('.map'));
      expect(unwanted).toEqual([]);
    });

    test('unzipped as /opt is, it serves require(\'spirt\') through NODE_PATH from any directory', () => {
      const opt = path.join(work, `opt-${arch}`);
      ok(spawnSync('unzip', ['-q', zip, '-d', opt], { encoding: 'utf8' }), 'unzip');
      const elsewhere = fs.mkdtempSync(path.join(work, 'task-'));
      const script = `const spirt = require('spirt'); const functions = require('spirt/functions');
        console.log(JSON.stringify({ at: require.resolve('spirt'), module: spirt.modulePath(),
        mode: require('node:fs').statSync(spirt.modulePath()).mode & 0o777,
        handlers: Object.keys(functions).filter((k) => typeof functions[k] === 'function').sort() }));`;
      const r = spawnSync(process.execPath, ['-e', script], { cwd: elsewhere, encoding: 'utf8', env: { ...bare, NODE_PATH: path.join(opt, 'nodejs', 'node_modules') } });
      if (arch === process.arch) {
        const out = JSON.parse(ok(r, 'require from the layer'));
        expect(out).toEqual({ at: path.join(opt, 'nodejs/node_modules/spirt/dist/index.js'),
          module: path.join(opt, `nodejs/node_modules/spirt/prebuilds/linux-${arch}/spirt_redis.so`), mode: 0o755,
          handlers: ['aggregate', 'computeGradient', 'convergence', 'exchange', 'membership', 'recover', 'update'] });
      } else {
        // this machine's architecture is not in the layer: the error says so instead of loading the other one
        expect(r.stderr).toContain(`not found: the package has no prebuilds/linux-${process.arch}/ (a Lambda layer for another architecture?`);
      }
    });
  });
});

describe('packaging/template.yaml (AWS SAM)', () => {
  const template = path.join(root, 'packaging', 'template.yaml');
  const lint = (file: string) => spawnSync('cfn-lint', [file], { encoding: 'utf8' });

  test('passes cfn-lint, which does catch a broken copy', () => {
    const r = lint(template);
    if (r.error) throw new Error(`cfn-lint could not run (${r.error.message}): it comes with the machine's Python (pip install cfn-lint)`);
    expect(`${r.stdout}${r.stderr}`).toBe('');
    expect(r.status).toBe(0);
    const broken = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'spirt-template-')), 'template.yaml');
    try {
      fs.writeFileSync(broken, fs.readFileSync(template, 'utf8').replace('Runtime: nodejs22.x', 'Runtime: nodejs99.x'));
      const bad = lint(broken);
      expect(bad.status).not.toBe(0);
      expect(bad.stdout).toContain('nodejs99.x');
    } finally {
      fs.rmSync(path.dirname(broken), { recursive: true, force: true });
    }
  });

  test('every function\'s handler is an export of spirt/functions, through the function code that re-exports it', () => {
    const handlers = [...fs.readFileSync(template, 'utf8').matchAll(/Handler: handlers\.(\w+)/g)].map((m) => m[1]);
    expect(handlers.length).toBeGreaterThan(0);
    expect(fs.readFileSync(path.join(root, 'packaging', 'lambda', 'handlers.js'), 'utf8')).toContain("module.exports = require('spirt/functions');");
    const exported = require(path.join(root, 'dist', 'functions', 'index.js')) as Record<string, unknown>;
    for (const name of handlers) expect(typeof exported[name]).toBe('function');
  });
});
