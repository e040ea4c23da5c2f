import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { findRedisServer, freePort, startRedis } from '../src/redis/launcher';
import { modulePath } from '../src/redis/modulePath';
import { ArgumentError, RedisLaunchError } from '../src/errors';
import { rawCommand } from './helpers';

/** The rejection of p, which must reject. */
async function rejectionOf(p: Promise<unknown>): Promise<Error> {
  return p.then(() => { throw new Error('expected a rejection'); }, (e: Error) => e);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A fresh parent directory per test for the launcher's temporary files, so that what it leaves there can be listed. */
function privateTmpParent(): { dir: () => string } {
  let dir = '';
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spirt-launcher-test-'));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { dir: () => dir };
}

/** Directories left in dir (a failed launch may keep its log file, never a directory). */
function directoriesIn(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
}

describe('embedded redis launcher', () => {
  test('starts on a free TCP port with the module loaded, and stop() removes everything', async () => {
    const redis = await startRedis();
    try {
      expect(redis.url).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/);
      expect(redis.port).not.toBe(6379);
      expect((await rawCommand(redis, ['TENSOR.GET', 'nokey'])).toString()).toBe('$-1\r\n'); // module loaded
      const reply = (await rawCommand(redis, ['TENSOR.SET', 'k', 'FLOAT32', 'SHAPE', '1', 'BLOB', Buffer.alloc(4)])).toString();
      expect(reply).toBe('+OK\r\n');
      expect((await rawCommand(redis, ['INFO', 'server'])).toString()).toContain(`process_id:${redis.pid}\r\n`);
      expect(fs.existsSync(redis.logFile)).toBe(true);
    } finally {
      expect(await redis.stop()).toBe(0);
    }
    expect(fs.existsSync(redis.dir)).toBe(false);
    expect(fs.existsSync(redis.logFile)).toBe(false);
    expect(isAlive(redis.pid)).toBe(false);
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

  test('the readiness check authenticates when the default user needs a password', async () => {
    const locked = await rejectionOf(startRedis({ args: ['--requirepass', 'sesame'], readyTimeoutMs: 500 }));
    expect(locked).toMatchObject({ code: 'ERR_REDIS_TIMEOUT' });
    expect(locked.message).toMatch(/NOAUTH.*pass options\.auth/);
    fs.rmSync((locked as RedisLaunchError).logFile!, { force: true });
    const redis = await startRedis({ args: ['--requirepass', 'sesame'], auth: { password: 'sesame' } });
    try {
      expect((await rawCommand(redis, ['PING'])).toString()).toMatch(/^-NOAUTH/);
    } finally {
      expect(await redis.stop()).toBe(0);
    }
  });

  test('modulePath is absolute and points at the built module', () => {
    expect(modulePath()).toMatch(/^\/.*spirt_redis\.so$/);
    expect(fs.statSync(modulePath()).mode & 0o111).not.toBe(0);
  });
});

describe('a port that another server holds', () => {
  let foreign: ChildProcess;
  let foreignPort: number;
  let foreignDir: string;
  beforeAll(async () => {
    // a redis-server this test starts itself, as someone else's would be: the launcher must never touch it
    foreignPort = await freePort();
    foreignDir = fs.mkdtempSync(path.join(os.tmpdir(), 'spirt-foreign-'));
    foreign = spawn(findRedisServer(), ['--port', String(foreignPort), '--bind', '127.0.0.1', '--save', '', '--dir', foreignDir], { stdio: 'ignore' });
    for (let i = 0; i < 200; i++) {
      if (await rawCommand({ port: foreignPort }, ['PING']).then((r) => r.toString() === '+PONG\r\n', () => false)) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    await rawCommand({ port: foreignPort }, ['SET', 'precious', 'data']);
  });
  afterAll(async () => {
    const exited = new Promise((r) => foreign.once('exit', r));
    foreign.kill('SIGKILL');
    await exited;
    fs.rmSync(foreignDir, { recursive: true, force: true });
  });
  const tmp = privateTmpParent();

  test('gets ERR_PORT_IN_USE naming the port, and the other server survives', async () => {
    for (const module of [true, false]) {
      const e = await rejectionOf(startRedis({ port: foreignPort, module, tmpParent: tmp.dir() }));
      expect(e).toBeInstanceOf(RedisLaunchError);
      expect(e).toMatchObject({ code: 'ERR_PORT_IN_USE' });
      expect(e.message).toContain(`port ${foreignPort} is already in use`);
    }
    expect(directoriesIn(tmp.dir())).toEqual([]);
    // a server started beside it, stopped: still nothing reaches the foreign one
    const ours = await startRedis({ tmpParent: tmp.dir() });
    expect(await ours.stop()).toBe(0);
    expect(foreign.exitCode).toBeNull();
    expect((await rawCommand({ port: foreignPort }, ['GET', 'precious'])).toString()).toBe('$4\r\ndata\r\n');
  });

  test('a port held by something that is not Redis is refused too', async () => {
    const listener = net.createServer((s) => s.end());
    const port = await new Promise<number>((resolve) => listener.listen(0, '127.0.0.1', () => resolve((listener.address() as net.AddressInfo).port)));
    try {
      await expect(startRedis({ port, tmpParent: tmp.dir() })).rejects.toMatchObject({ code: 'ERR_PORT_IN_USE' });
    } finally {
      listener.close();
    }
    expect(directoriesIn(tmp.dir())).toEqual([]);
  });
});

describe('launch failures are typed and leave no directory behind', () => {
  const tmp = privateTmpParent();

  test.each([99999, -1, 1.5, 0, 'x', NaN])('port %p is an ArgumentError', async (port) => {
    const e = await rejectionOf(startRedis({ port: port as number, tmpParent: tmp.dir() }));
    expect(e).toBeInstanceOf(ArgumentError);
    expect(e).toMatchObject({ code: 'ERR_INVALID_PORT' });
    expect(e.message).toMatch(/port must be an integer from 1 to 65535/);
    expect(fs.readdirSync(tmp.dir())).toEqual([]);
  });

  test('a server that cannot start reports its log, which it keeps', async () => {
    const e = await rejectionOf(startRedis({ args: ['--no-such-option', 'x'], tmpParent: tmp.dir() }));
    expect(e).toMatchObject({ code: 'ERR_REDIS_EXITED' });
    expect(e.message).toMatch(/exited .* before it was ready .*log: .*\.log/s);
    expect(fs.readFileSync((e as RedisLaunchError).logFile!, 'utf8')).toMatch(/no-such-option/);
    expect(directoriesIn(tmp.dir())).toEqual([]);
  });

  test('in a data directory of your own, the log is appended to and an error reports only this launch', async () => {
    const dir = fs.mkdtempSync(path.join(tmp.dir(), 'data-'));
    fs.writeFileSync(path.join(dir, 'redis.log'), 'an earlier run: bind: Address already in use\n');
    const e = await rejectionOf(startRedis({ dir, args: ['--no-such-option', 'x'] }));
    expect(e).toMatchObject({ code: 'ERR_REDIS_EXITED', logFile: path.join(dir, 'redis.log') });
    expect(e.message).not.toMatch(/earlier run/);
    expect(fs.readFileSync(path.join(dir, 'redis.log'), 'utf8')).toMatch(/^an earlier run[\s\S]*no-such-option/);
    expect(fs.existsSync(dir)).toBe(true); // not the launcher's to remove
  });

  test('a forced SIMD path the CPU cannot run makes the module refuse to load', async () => {
    const e = await rejectionOf(startRedis({ env: { ...process.env, SPIRT_SIMD: 'no-such-path' }, tmpParent: tmp.dir() }));
    expect(e).toBeInstanceOf(RedisLaunchError);
    expect(fs.readFileSync((e as RedisLaunchError).logFile!, 'utf8')).toMatch(/SPIRT_SIMD/);
    expect(directoriesIn(tmp.dir())).toEqual([]);
  });

  test('a server that never becomes ready is killed after the timeout, with an error naming its log', async () => {
    // a real redis-server that stops itself before it starts, as Redis 7.0 spinning on a truncated RDB never gets ready
    const scripts = fs.mkdtempSync(path.join(os.tmpdir(), 'spirt-hang-'));
    const pidFile = path.join(scripts, 'pid');
    const script = path.join(scripts, 'redis-server');
    fs.writeFileSync(script, `#!/bin/sh\necho $$ > ${pidFile}\nkill -STOP $$\nexec ${findRedisServer()} "$@"\n`, { mode: 0o755 });
    const saved = process.env.SPIRT_REDIS_SERVER;
    process.env.SPIRT_REDIS_SERVER = script;
    try {
      const e = await rejectionOf(startRedis({ readyTimeoutMs: 300, tmpParent: tmp.dir() }));
      expect(e).toBeInstanceOf(RedisLaunchError);
      expect(e).toMatchObject({ code: 'ERR_REDIS_TIMEOUT' });
      const logFile = (e as RedisLaunchError).logFile!;
      expect(e.message).toContain(`was not ready within 300 ms (nothing answered); it was killed (log: ${logFile})`);
      expect(isAlive(Number(fs.readFileSync(pidFile, 'utf8')))).toBe(false);
    } finally {
      if (saved === undefined) delete process.env.SPIRT_REDIS_SERVER;
      else process.env.SPIRT_REDIS_SERVER = saved;
      fs.rmSync(scripts, { recursive: true, force: true });
    }
    expect(directoriesIn(tmp.dir())).toEqual([]);
  });

  test('refusals before the launch create nothing', async () => {
    await expect(startRedis({ readyTimeoutMs: 0, tmpParent: tmp.dir() })).rejects.toThrow(/readyTimeoutMs must be a positive number/);
    const saved = process.env.SPIRT_REDIS_WRAPPER;
    process.env.SPIRT_REDIS_WRAPPER = 'gdb';
    try {
      await expect(startRedis({ tmpParent: tmp.dir() })).rejects.toMatchObject({ code: 'ERR_WRAPPER' });
    } finally {
      if (saved === undefined) delete process.env.SPIRT_REDIS_WRAPPER;
      else process.env.SPIRT_REDIS_WRAPPER = saved;
    }
    expect(fs.readdirSync(tmp.dir())).toEqual([]);
  });
});
