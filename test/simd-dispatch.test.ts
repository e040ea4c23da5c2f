import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { simd } from '../src/kernels';

const addon = path.resolve(__dirname, '..', 'build', 'Release', 'spirt.node');
const probe = (env: NodeJS.ProcessEnv) =>
  spawnSync(process.execPath, ['-e', `console.log(require(${JSON.stringify(addon)}).simdPath)`], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });

describe('SIMD dispatch', () => {
  test.each(simd.available)('SPIRT_SIMD=%s forces that path', (name) => {
    const r = probe({ SPIRT_SIMD: name });
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe(name);
  });

  test('without SPIRT_SIMD the widest supported path is chosen', () => {
    const r = probe({ SPIRT_SIMD: '' });
    expect(r.stdout.trim()).toBe(simd.available[0]);
  });

  test('an unknown path fails loudly at load', () => {
    const r = probe({ SPIRT_SIMD: 'sse9' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/SPIRT_SIMD names a path that is unknown or not supported/);
  });
});
