// Connection failures are typed and bounded in time: unreachable, refused credentials, untrusted TLS, a paused
// (SIGSTOP) server and a killed (kill -9) one, over TensorStore.connect and over clients the caller brings.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { createClient } from '@redis/client';
import { TensorStore } from '../src/store/tensorStore';
import { SupportedClient } from '../src/store/transport';
import { RunningRedis, startRedis } from '../src/redis/launcher';
import { ArgumentError, RedisConnectionError } from '../src/errors';
import { tensor } from '../src/tensor';
import { makeTestCertificates } from './helpers';

const one = tensor('float32', [1], Float32Array.of(1));

/** The error p rejects with, and how long that took. */
async function failure(p: Promise<unknown>): Promise<{ error: Error; ms: number }> {
  const t0 = Date.now();
  const error = await p.then(() => { throw new Error('expected a rejection'); }, (e: Error) => e);
  return { error, ms: Date.now() - t0 };
}

async function expectConnectionError(p: Promise<unknown>, code: string, boundMs: number): Promise<RedisConnectionError> {
  const { error, ms } = await failure(p);
  expect(error).toBeInstanceOf(RedisConnectionError);
  expect(error).toMatchObject({ code });
  expect(ms).toBeLessThan(boundMs);
  return error as RedisConnectionError;
}

/** A server to pause or kill; killed ones are only cleaned up by stop(). */
async function withServer(fn: (redis: RunningRedis) => Promise<void>, args: string[] = []): Promise<void> {
  const redis = await startRedis({ args });
  try {
    await fn(redis);
  } finally {
    try {
      process.kill(redis.pid, 'SIGCONT');
    } catch {
      /* already gone */
    }
    await redis.stop();
  }
}

describe('TensorStore.connect', () => {
  test('an unreachable server is ERR_CONNECT after the configured attempts, not a reconnect loop', async () => {
    const e = await expectConnectionError(TensorStore.connect('redis://127.0.0.1:1', { retries: 1 }), 'ERR_CONNECT', 5000);
    expect(e.message).toMatch(/could not connect to redis:\/\/127\.0\.0\.1:1 \(2 attempts\): connect ECONNREFUSED/);
  });

  test('a server that accepts but never answers is ERR_CONNECT within connectTimeoutMs', () => withServer(async (redis) => {
    process.kill(redis.pid, 'SIGSTOP');
    const e = await expectConnectionError(TensorStore.connect(redis.url, { connectTimeoutMs: 200 }), 'ERR_CONNECT', 3000);
    expect(e.message).toContain(`could not connect to ${redis.url} within 200 ms`);
  }));

  test('malformed URLs and options are refused before connecting', async () => {
    for (const url of ['127.0.0.1:6379', 'http://127.0.0.1:1', 'redis://127.0.0.1:1/x', 'unix://']) {
      await expect(TensorStore.connect(url)).rejects.toThrow(ArgumentError);
    }
    await expect(TensorStore.connect('redis://127.0.0.1:1', { retries: -1 })).rejects.toThrow(/retries must be an integer >= 0/);
    await expect(TensorStore.connect('redis://127.0.0.1:1', { commandTimeoutMs: 0 })).rejects.toThrow(/commandTimeoutMs must be in \[1/);
    await expect(TensorStore.connect('redis://127.0.0.1:1', { connectTimeoutMs: NaN })).rejects.toThrow(/connectTimeoutMs must be a finite number/);
  });

  test('credentials from the URL or the options; refused ones are ERR_AUTH', () => withServer(async (redis) => {
    const port = redis.port!;
    for (const [url, options] of [[`redis://alice:s%40cret@127.0.0.1:${port}`, {}], [redis.url, { username: 'alice', password: 's@cret' }]] as const) {
      const store = await TensorStore.connect(url, options);
      try {
        await store.set('{alice}:t', one);
        expect(Array.from((await store.get('{alice}:t'))!.data)).toEqual([1]);
      } finally {
        await store.close();
      }
    }
    const e = await expectConnectionError(TensorStore.connect(`redis://alice:wrong@127.0.0.1:${port}`), 'ERR_AUTH', 5000);
    expect(e.message).toMatch(/redis:\/\/alice:\*\*\*@127\.0\.0\.1:\d+ refused the credentials: WRONGPASS/);
    expect(e.message).not.toContain('wrong');
  }, ['--user', 'alice', 'on', '>s@cret', '~{alice}:*', '&*', '+@all']));

  describe('TLS', () => {
    let dir: string;
    let redis: RunningRedis;
    let tlsPort: number;
    let certs: ReturnType<typeof makeTestCertificates>;
    beforeAll(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spirt-tls-'));
      certs = makeTestCertificates(dir);
      tlsPort = (await startRedis({ module: false }).then(async (r) => { const p = r.port!; await r.stop(); return p; }));
      redis = await startRedis({
        args: ['--tls-port', String(tlsPort), '--tls-cert-file', certs.serverCert, '--tls-key-file', certs.serverKey, '--tls-ca-cert-file', certs.caFile],
      });
    });
    afterAll(async () => {
      await redis?.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    test('rediss:// with the CA, a client certificate and the server name', async () => {
      const store = await TensorStore.connect(`rediss://localhost:${tlsPort}`, {
        tls: { ca: fs.readFileSync(certs.caFile), cert: fs.readFileSync(certs.clientCert), key: fs.readFileSync(certs.clientKey), servername: 'localhost' },
      });
      try {
        await store.set('secure', one);
        expect((await store.meta('secure'))!.shape).toEqual([1]);
      } finally {
        await store.close();
      }
    });

    test('a server certificate from an unknown CA is ERR_CONNECT naming the TLS failure', async () => {
      const e = await expectConnectionError(TensorStore.connect(`rediss://127.0.0.1:${tlsPort}`, { retries: 0 }), 'ERR_CONNECT', 5000);
      expect(e.message).toMatch(/certificate/);
    });
  });

  test('a paused server: commands and pipelines are ERR_COMMAND_TIMEOUT within the command timeout, and work again once it resumes', () =>
    withServer(async (redis) => {
      const store = await TensorStore.connect(redis.url, { commandTimeoutMs: 200 });
      try {
        await store.set('k', one);
        process.kill(redis.pid, 'SIGSTOP');
        const e = await expectConnectionError(store.get('k'), 'ERR_COMMAND_TIMEOUT', 3000);
        expect(e.command).toBe('TENSOR.GET');
        expect(e.message).toContain(`TENSOR.GET on ${redis.url} got no reply within 200 ms`);
        await expectConnectionError(store.pipeline().meta('k').getBlob('k').exec(), 'ERR_COMMAND_TIMEOUT', 3000);
        process.kill(redis.pid, 'SIGCONT');
        expect((await store.meta('k'))!.shape).toEqual([1]);
        process.kill(redis.pid, 'SIGSTOP');
      } finally {
        const t0 = Date.now();
        await store.close();
        expect(Date.now() - t0).toBeLessThan(3000);
      }
    }));

  test.each([0, 2])('a killed server (kill -9, %p retries): pending and later commands are ERR_CONNECTION_LOST', (retries) =>
    withServer(async (redis) => {
      const store = await TensorStore.connect(redis.url, { retries, commandTimeoutMs: 10_000 });
      try {
        await store.set('k', one);
        process.kill(redis.pid, 'SIGSTOP');
        const pending = store.get('k');
        process.kill(redis.pid, 'SIGKILL');
        const e = await expectConnectionError(pending, 'ERR_CONNECTION_LOST', 5000);
        expect(e.message).toContain(`TENSOR.GET failed: connection to ${redis.url} lost`);
        await expectConnectionError(store.set('k', one), 'ERR_CONNECTION_LOST', 5000);
        const [result] = await store.pipeline().meta('k').exec();
        expect(result).toBeInstanceOf(RedisConnectionError);
      } finally {
        await store.close();
      }
    }));

  test('the process exits by itself after connection failures, with nothing printed', async () => {
    const script = `
      const { TensorStore } = require(${JSON.stringify(path.resolve(__dirname, '../dist/store/tensorStore.js'))});
      const { startRedis } = require(${JSON.stringify(path.resolve(__dirname, '../dist/redis/launcher.js'))});
      (async () => {
        const codes = [];
        const code = (p) => p.then(() => 'ok', (e) => e.code);
        codes.push(await code(TensorStore.connect('redis://127.0.0.1:1')));
        const redis = await startRedis({ module: false });
        const store = await TensorStore.connect(redis.url, { commandTimeoutMs: 200 });
        process.kill(redis.pid, 'SIGSTOP');
        codes.push(await code(store.command('PING')));
        process.kill(redis.pid, 'SIGKILL');
        codes.push(await code(store.command('PING')));
        await store.close();
        await redis.stop();
        console.log(JSON.stringify(codes));
      })();`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 });
    expect(r.signal).toBeNull(); // not killed by the timeout: nothing kept it alive
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    const [refused, paused, killed] = JSON.parse(r.stdout);
    expect([refused, paused]).toEqual(['ERR_CONNECT', 'ERR_COMMAND_TIMEOUT']);
    expect(['ERR_CONNECTION_LOST', 'ERR_COMMAND_TIMEOUT']).toContain(killed);
  });
});

describe.each(['ioredis', 'node-redis'] as const)('a %s client the caller brings', (kind) => {
  async function open(redis: RunningRedis): Promise<{ client: SupportedClient; close: () => Promise<void> }> {
    if (kind === 'ioredis') {
      const c = new Redis(redis.port!, '127.0.0.1');
      c.on('error', () => undefined); // the caller's client, the caller's listener
      return { client: c as unknown as SupportedClient, close: async () => c.disconnect() };
    }
    const c = createClient({ socket: { host: '127.0.0.1', port: redis.port! } });
    c.on('error', () => undefined);
    await c.connect();
    return { client: c as unknown as SupportedClient, close: async () => void (c.isOpen ? c.destroy() : undefined) };
  }

  test('a paused or killed server is a typed error within the command timeout', () => withServer(async (redis) => {
    const { client, close } = await open(redis);
    try {
      const store = new TensorStore(client, { commandTimeoutMs: 200, endpoint: 'peer1' });
      await store.set('k', one);
      process.kill(redis.pid, 'SIGSTOP');
      const e = await expectConnectionError(store.get('k'), 'ERR_COMMAND_TIMEOUT', 3000);
      expect(e.message).toContain('TENSOR.GET on peer1 got no reply within 200 ms');
      process.kill(redis.pid, 'SIGKILL');
      // the client reconnects as it is configured to; each call still ends, typed, within the bound
      const later = await failure(store.get('k'));
      expect(later.error).toBeInstanceOf(RedisConnectionError);
      expect(['ERR_CONNECTION_LOST', 'ERR_COMMAND_TIMEOUT']).toContain((later.error as RedisConnectionError).code);
      expect(later.ms).toBeLessThan(3000);
    } finally {
      await close();
    }
  }));

  test('a client closed by its owner is ERR_CONNECTION_LOST', () => withServer(async (redis) => {
    const { client, close } = await open(redis);
    const store = new TensorStore(client);
    await store.set('k', one);
    await close();
    await expectConnectionError(store.get('k'), 'ERR_CONNECTION_LOST', 3000);
  }));
});

test('an ioredis commandTimeout of the caller is ERR_COMMAND_TIMEOUT too', () => withServer(async (redis) => {
  const c = new Redis(redis.port!, '127.0.0.1', { commandTimeout: 100 });
  c.on('error', () => undefined);
  try {
    const store = new TensorStore(c as unknown as SupportedClient);
    await store.set('k', one);
    process.kill(redis.pid, 'SIGSTOP');
    const e = await expectConnectionError(store.get('k'), 'ERR_COMMAND_TIMEOUT', 3000);
    expect(e.message).toMatch(/TENSOR\.GET on the Redis server timed out: Command timed out/);
  } finally {
    c.disconnect();
  }
}));
