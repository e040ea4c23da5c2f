// One locator for the addon and the module: environment override, then build/Release (a build from source),
// then prebuilds/<platform>-<arch>/, each checked (architecture; a prebuild's manifest, sha256 and glibc) before use.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BinaryKind, locateBinary } from '../src/binaries';
import { NativeLoadError } from '../src/errors';
import { startRedis } from '../src/redis/launcher';
import { modulePath } from '../src/redis/modulePath';
import { rawCommand } from './helpers';

const FILES: Record<BinaryKind, { file: string; env: string }> = {
  addon: { file: 'spirt.node', env: 'SPIRT_ADDON_PATH' },
  module: { file: 'spirt_redis.so', env: 'SPIRT_MODULE_PATH' },
};

let root: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'spirt-binaries-'));
});
afterEach(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

/** The first 64 bytes of a little-endian 64-bit ELF shared object for `arch`, plus `tag` to tell files apart. */
function elf(arch: 'x64' | 'arm64', tag = ''): Buffer {
  const b = Buffer.alloc(64);
  b.writeUInt32BE(0x7f454c46, 0);
  b[4] = 2; // 64-bit
  b[5] = 1; // little-endian
  b[6] = 1;
  b.writeUInt16LE(3, 16); // shared object
  b.writeUInt16LE(arch === 'x64' ? 62 : 183, 18);
  return Buffer.concat([b, Buffer.from(tag)]);
}

function place(dir: string, file: string, data: Buffer = elf('arm64')): string {
  fs.mkdirSync(path.join(root, dir), { recursive: true });
  const at = path.join(root, dir, file);
  fs.writeFileSync(at, data);
  return at;
}

/** prebuilds/<target>/<file> with a manifest that records `recorded` (default: the file's own bytes). */
function prebuild(target: string, file: string, data: Buffer, recorded: Buffer = data, glibc = '2.34'): string {
  const at = place(`prebuilds/${target}`, file, data);
  const [platform, arch] = target.split('-');
  const sha256 = crypto.createHash('sha256').update(recorded).digest('hex');
  fs.writeFileSync(path.join(root, 'prebuilds', target, 'manifest.json'),
    JSON.stringify({ platform, arch, glibc, files: { [file]: { sha256, bytes: recorded.length } } }));
  return at;
}

function failure(f: () => unknown): NativeLoadError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(NativeLoadError);
    return e as NativeLoadError;
  }
  throw new Error('no error thrown');
}

describe.each(['addon', 'module'] as const)('locateBinary(%s)', (kind) => {
  const { file, env } = FILES[kind];
  const where = { platform: 'linux', arch: 'arm64', glibc: '2.36' };

  test('searches the override, then build/Release, then prebuilds/<platform>-<arch>/', () => {
    const prebuilt = prebuild('linux-arm64', file, elf('arm64'));
    prebuild('linux-x64', file, elf('x64'));
    expect(locateBinary(kind, { root, env: {}, ...where })).toBe(prebuilt);
    const built = place('build/Release', file);
    expect(locateBinary(kind, { root, env: {}, ...where })).toBe(built);
    const own = place('elsewhere', file);
    expect(locateBinary(kind, { root, env: { [env]: own }, ...where })).toBe(own);
  });

  test('an override that does not exist is an error, not a silent fallback', () => {
    place('build/Release', file);
    expect(() => locateBinary(kind, { root, env: { [env]: '/nonexistent/x' } })).toThrow(
      new RegExp(`${env}=/nonexistent/x does not exist`));
  });

  test('an override or a local build for another architecture is refused before dlopen', () => {
    const own = place('elsewhere', file, elf('x64'));
    const e = failure(() => locateBinary(kind, { root, env: { [env]: own }, ...where }));
    expect(e.code).toBe('ERR_BINARY_INVALID');
    expect(e.message).toContain(`${own} is built for x64, not for this arm64 process`);
    const built = place('build/Release', file, elf('x64'));
    expect(failure(() => locateBinary(kind, { root, env: {}, ...where })).message).toContain(`${built} is built for x64`);
  });

  test('a corrupted, truncated or wrong-architecture prebuild is refused, naming the file and the fix', () => {
    const at = prebuild('linux-arm64', file, elf('arm64', 'flipped'), elf('arm64', 'original'));
    let e = failure(() => locateBinary(kind, { root, env: {}, ...where }));
    expect(e.code).toBe('ERR_BINARY_INVALID');
    expect(e.message).toMatch(new RegExp(`${at} is corrupted: its sha256 is [0-9a-f]{64}, the manifest says [0-9a-f]{64}`));
    expect(e.message).toContain('SPIRT_BUILD_FROM_SOURCE=1 npm rebuild spirt');

    prebuild('linux-arm64', file, Buffer.from('\x7fEL'));
    expect(failure(() => locateBinary(kind, { root, env: {}, ...where })).message).toContain(`${at} is not an ELF shared object`);

    prebuild('linux-arm64', file, elf('x64'));
    expect(failure(() => locateBinary(kind, { root, env: {}, ...where })).message).toContain(`${at} is built for x64, not for this arm64 process`);

    fs.rmSync(path.join(root, 'prebuilds', 'linux-arm64', 'manifest.json'));
    expect(failure(() => locateBinary(kind, { root, env: {}, ...where })).message).toMatch(/manifest.json is missing or unreadable/);
  });

  test('a prebuild needing a newer glibc than the system has, or a system without glibc, is refused', () => {
    prebuild('linux-arm64', file, elf('arm64'));
    const old = failure(() => locateBinary(kind, { root, env: {}, ...where, glibc: '2.26' }));
    expect(old.message).toContain('the prebuilt binaries need glibc >= 2.34 and this system has glibc 2.26');
    expect(old.message).toContain('npm run build:native');
    const musl = failure(() => locateBinary(kind, { root, env: {}, ...where, glibc: null }));
    expect(musl.message).toContain('this system has no glibc (musl?)');
    expect(locateBinary(kind, { root, env: {}, ...where, glibc: '2.34' })).toMatch(/prebuilds/);
  });

  test('nothing found: the error names the platform, every place searched and the fix', () => {
    const message = failure(() => locateBinary(kind, { root, env: {}, ...where })).message;
    expect(failure(() => locateBinary(kind, { root, env: {}, ...where })).code).toBe(kind === 'addon' ? 'ERR_ADDON_MISSING' : 'ERR_MODULE_MISSING');
    expect(message).toContain(`${env} (not set)`);
    expect(message).toContain(path.join(root, 'prebuilds', 'linux-arm64', file));
    expect(message).toContain(path.join(root, 'build', 'Release', file));
    expect(message).toMatch(/npm run build:native/);

    const other = failure(() => locateBinary(kind, { root, env: {}, platform: 'darwin', arch: 'arm64' })).message;
    expect(other).toContain('spirt ships prebuilt binaries for linux-x64 and linux-arm64 (glibc >= 2.34) only, not darwin-arm64');
    expect(other).toContain(path.join(root, 'prebuilds', 'darwin-arm64', file));
    expect(other).toContain("SPIRT_BUILD_FROM_SOURCE=1 npm rebuild spirt");
    expect(other).toMatch(/cmake, make and g\+\+/);
  });
});

test('this checkout finds both of its built artifacts', () => {
  expect(locateBinary('addon')).toMatch(/\/spirt\.node$/);
  expect(modulePath()).toBe(locateBinary('module'));
});

test('SPIRT_MODULE_PATH is the module the launcher loads', async () => {
  const copy = path.join(root, 'copy of spirt_redis.so');
  fs.copyFileSync(modulePath(), copy);
  fs.chmodSync(copy, 0o755);
  const saved = process.env.SPIRT_MODULE_PATH;
  process.env.SPIRT_MODULE_PATH = copy;
  try {
    expect(modulePath()).toBe(copy);
    const redis = await startRedis();
    try {
      const list = (await rawCommand(redis, ['MODULE', 'LIST'])).toString();
      expect(list).toContain(copy);
    } finally {
      await redis.stop();
    }
  } finally {
    if (saved === undefined) delete process.env.SPIRT_MODULE_PATH;
    else process.env.SPIRT_MODULE_PATH = saved;
  }
});

test('SPIRT_ADDON_PATH is the addon the kernels load (built package)', () => {
  const copy = path.join(root, 'spirt-copy.node');
  fs.copyFileSync(locateBinary('addon'), copy);
  const kernels = path.resolve(__dirname, '../dist/kernels.js');
  const script = `const k = require(${JSON.stringify(kernels)}); k.mean([new Float32Array(4)]);
    console.log(JSON.stringify(Object.keys(require.cache).filter((f) => f.endsWith('.node'))));`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, SPIRT_ADDON_PATH: copy } });
  expect(r.stderr).toBe('');
  expect(JSON.parse(r.stdout)).toEqual([copy]);
});
