import fs from 'node:fs';
import { startRedis } from '../src/redis/launcher';
import { modulePath } from '../src/redis/modulePath';
import { RedisLaunchError } from '../src/errors';
import { rawCommand } from './helpers';

describe('embedded redis launcher', () => {
  test('starts on a free TCP port with the module loaded, and stop() removes everything', async () => {
    const redis = await startRedis();
    try {
      expect(redis.url).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/);
      expect(redis.port).not.toBe(6379);
      expect((await rawCommand(redis, ['TENSOR.GET', 'nokey'])).toString()).toBe('$-1\r\n'); // module loaded
      const reply = (await rawCommand(redis, ['TENSOR.SET', 'k', 'FLOAT32', 'SHAPE', '1', 'BLOB', Buffer.alloc(4)])).toString();
      expect(reply).toBe('+OK\r\n');
    } finally {
      expect(await redis.stop()).toBe(0);
    }
    expect(fs.existsSync(redis.dir)).toBe(false);
    await expect(rawCommand(redis, ['PING'])).rejects.toThrow();
  });

  test('listens on a unix socket when asked', async () => {
    const redis = await startRedis({ unixSocket: true });
    try {
      expect(redis.url).toBe(`unix://${redis.socketPath}`);
      expect((await rawCommand(redis, ['PING'])).toString()).toBe('+PONG\r\n');
    } finally {
      await redis.stop();
    }
  });

  test('without the module, TENSOR commands are unknown', async () => {
    const redis = await startRedis({ module: false });
    try {
      expect((await rawCommand(redis, ['TENSOR.GET', 'k'])).toString()).toMatch(/^-ERR unknown command/);
    } finally {
      await redis.stop();
    }
  });

  test('two servers run side by side on different ports', async () => {
    const [a, b] = await Promise.all([startRedis(), startRedis()]);
    try {
      expect(a.port).not.toBe(b.port);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });

  test('a clear error when redis-server is missing', async () => {
    const saved = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      await expect(startRedis()).rejects.toThrow(/redis-server was not found on PATH.*apt-get install -y redis-server/);
      await expect(startRedis()).rejects.toBeInstanceOf(RedisLaunchError);
    } finally {
      process.env.PATH = saved;
    }
  });

  test('a server that cannot start reports its log', async () => {
    await expect(startRedis({ args: ['--no-such-option', 'x'] })).rejects.toThrow(/exited .* before it was ready/s);
  });

  test('a forced SIMD path the CPU cannot run makes the module refuse to load', async () => {
    await expect(startRedis({ env: { ...process.env, SPIRT_SIMD: 'no-such-path' } })).rejects.toThrow(RedisLaunchError);
  });

  test('modulePath is absolute and points at the built module', () => {
    expect(modulePath()).toMatch(/^\/.*spirt_redis\.so$/);
    expect(fs.statSync(modulePath()).mode & 0o111).not.toBe(0);
  });
});
