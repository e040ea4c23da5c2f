// TLS on the embedded servers: a per-run CA made with openssl, clients that verify the server and present a
// certificate of the run; a plain-text client, a client without a certificate and one trusting another CA
// are refused.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ArgumentError, RedisConnectionError } from '../../src/errors';
import { RunningRedis, startRedis } from '../../src/redis/launcher';
import { probe } from '../../src/redis/probe';
import { createAclLayout, urlWithCredentials } from '../../src/security/acl';
import { TlsMaterial, clientTlsOptions, createTlsMaterial } from '../../src/security/tls';
import { TensorStore } from '../../src/store/tensorStore';
import { tensor } from '../../src/tensor';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spirt-tls-'));
let material: TlsMaterial;
let other: TlsMaterial;
let redis: RunningRedis;
const layout = createAclLayout(['peer0', 'peer1']);

beforeAll(async () => {
  material = createTlsMaterial(path.join(dir, 'run'));
  other = createTlsMaterial(path.join(dir, 'other'));
  redis = await startRedis({ tls: material, acl: { layout, owner: 'peer0' } });
});
afterAll(async () => {
  await redis?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function refusal(url: string, tls?: object): Promise<RedisConnectionError> {
  try {
    const store = await TensorStore.connect(url, { retries: 0, connectTimeoutMs: 2000, ...(tls ? { tls } : {}) });
    await store.close();
  } catch (e) {
    expect(e).toBeInstanceOf(RedisConnectionError);
    return e as RedisConnectionError;
  }
  throw new Error(`connecting to ${url} succeeded`);
}

test('the run\'s material: CA, server and client certificates; private keys 0600; the CA key is gone', () => {
  expect(fs.readdirSync(material.dir).sort()).toEqual(['ca.crt', 'client.crt', 'client.key', 'server.crt', 'server.key']);
  for (const key of [material.serverKeyFile, material.clientKeyFile]) expect(fs.statSync(key).mode & 0o777).toBe(0o600);
  expect(fs.statSync(material.dir).mode & 0o777).toBe(0o700);
});

test('a TLS client of the run stores and reads tensors, with ACL credentials', async () => {
  expect(redis.url).toMatch(/^rediss:\/\/spirt-admin:[^@]+@127\.0\.0\.1:\d+$/);
  const store = await TensorStore.connect(urlWithCredentials(redis.url, layout.peers.peer1), { tls: clientTlsOptions(material), retries: 0 });
  try {
    await store.set('{peer1}:g', tensor('float32', [3], Float32Array.of(1, 2, 3)));
    expect(Array.from((await store.get('{peer1}:g'))!.data)).toEqual([1, 2, 3]);
    await expect(store.set('{peer0}:g', tensor('float32', [1]))).rejects.toMatchObject({ code: 'NOPERM' });
  } finally {
    await store.close();
  }
});

test('plain text, no client certificate, or another CA: refused', async () => {
  const port = redis.port!;
  // a plain-text client: the TLS port answers no RESP at all
  expect(await probe({ port }, [['PING']], 1000)).toBeUndefined();
  expect((await refusal(`redis://127.0.0.1:${port}`)).code).toBe('ERR_CONNECT');
  const mine = clientTlsOptions(material);
  // the server requires a client certificate of the run's CA
  expect((await refusal(redis.url, { ca: mine.ca, servername: mine.servername })).code).toBe('ERR_CONNECT');
  expect((await refusal(redis.url, { ...clientTlsOptions(other), ca: mine.ca })).code).toBe('ERR_CONNECT');
  // the client verifies the server against the run's CA
  expect((await refusal(redis.url, { ...mine, ca: clientTlsOptions(other).ca })).code).toBe('ERR_CONNECT');
  // the probe with the run's client certificate still gets an answer (NOAUTH: the default user is off)
  const replies = await probe({ port, tls: { ...mine } }, [['PING']], 2000);
  expect(String(replies?.[0])).toMatch(/NOAUTH/);
});

test('tls with a unix socket is an ArgumentError; missing TLS files fail the launch and leave nothing behind', async () => {
  await expect(startRedis({ tls: material, unixSocket: true })).rejects.toBeInstanceOf(ArgumentError);
  const parent = fs.mkdtempSync(path.join(dir, 'launch-'));
  await expect(startRedis({ tls: { ...material, clientKeyFile: path.join(dir, 'missing.key') }, tmpParent: parent }))
    .rejects.toMatchObject({ code: 'ERR_TLS_SETUP' });
  expect(fs.readdirSync(parent)).toEqual([]);
});
