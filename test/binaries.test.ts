// One locator for the addon and the module: environment override, then prebuilds/<platform>-<arch>/, then build/Release.
import { spawnSync } from 'node:child_process';
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

function place(dir: string, file: string): string {
  fs.mkdirSync(path.join(root, dir), { recursive: true });
  const at = path.join(root, dir, file);
  fs.writeFileSync(at, '');
  return at;
}

describe.each(['addon', 'module'] as const)('locateBinary(%s)', (kind) => {
  const { file, env } = FILES[kind];
  const where = { platform: 'linux', arch: 'arm64' };

  test('searches the override, then prebuilds/<platform>-<arch>/, then build/Release', () => {
    const built = place('build/Release', file);
    expect(locateBinary(kind, { root, env: {}, ...where })).toBe(built);
    const prebuilt = place('prebuilds/linux-arm64', file);
    place('prebuilds/linux-x64', file);
    expect(locateBinary(kind, { root, env: {}, ...where })).toBe(prebuilt);
    const own = place('elsewhere', file);
    expect(locateBinary(kind, { root, env: { [env]: own }, ...where })).toBe(own);
  });

  test('an override that does not exist is an error, not a silent fallback', () => {
    place('build/Release', file);
    expect(() => locateBinary(kind, { root, env: { [env]: '/nonexistent/x' } })).toThrow(
      new RegExp(`${env}=/nonexistent/x does not exist`));
  });

  test('nothing found: the error names every place searched and the fix', () => {
    let error: unknown;
    try {
      locateBinary(kind, { root, env: {}, ...where });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(NativeLoadError);
    expect(error).toMatchObject({ code: kind === 'addon' ? 'ERR_ADDON_MISSING' : 'ERR_MODULE_MISSING' });
    const message = (error as Error).message;
    expect(message).toContain(`${env} (not set)`);
    expect(message).toContain(path.join(root, 'prebuilds', 'linux-arm64', file));
    expect(message).toContain(path.join(root, 'build', 'Release', file));
    expect(message).toMatch(/npm run build:native/);
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
