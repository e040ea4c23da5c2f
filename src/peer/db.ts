// The peer runtime's view of the databases: one cached connection per URL and purpose (like a warm Lambda
// container's), and the module commands it uses, every write stamped with a version.
import { PeerFailedError, RedisConnectionError, TensorCommandError } from '../errors';
import fs from 'node:fs';
import { ConnectOptions } from '../store/connect';
import { TensorStore } from '../store/tensorStore';
import { RawReply, RedisArg } from '../store/reply';

/**
 * Data connections carry whole gradients and everything a peer writes into its own database; control
 * connections read other peers' heartbeats and views, and must answer fast or count as silent.
 */
export type Purpose = 'data' | 'control';

const connections = new Map<string, Promise<TensorStore>>();

/**
 * Credentials and TLS for every database this process opens: a peer authenticates as its own ACL user on
 * every peer's database. From the environment (SPIRT_REDIS_USERNAME, SPIRT_REDIS_PASSWORD, and SPIRT_TLS_CA,
 * SPIRT_TLS_CERT, SPIRT_TLS_KEY: PEM files), so that secrets stay out of state machine events and logs.
 */
let access: Pick<ConnectOptions, 'username' | 'password' | 'tls'> | undefined;

/** Sets them for this process (a launcher acting as the servers' admin); undefined: back to the environment's. */
export function setDatabaseAccess(options: Pick<ConnectOptions, 'username' | 'password' | 'tls'> | undefined): void {
  access = options;
}

function databaseAccess(): Pick<ConnectOptions, 'username' | 'password' | 'tls'> {
  if (!access) {
    const e = process.env;
    const read = (f: string | undefined) => (f ? fs.readFileSync(f) : undefined);
    access = {
      ...(e.SPIRT_REDIS_USERNAME ? { username: e.SPIRT_REDIS_USERNAME } : {}),
      ...(e.SPIRT_REDIS_PASSWORD ? { password: e.SPIRT_REDIS_PASSWORD } : {}),
      ...(e.SPIRT_TLS_CA ? { tls: { ca: read(e.SPIRT_TLS_CA), cert: read(e.SPIRT_TLS_CERT), key: read(e.SPIRT_TLS_KEY), servername: 'localhost' } } : {}),
    };
  }
  return access;
}

export function peerDb(url: string, purpose: Purpose, heartbeatMs: number): Promise<PeerDb> {
  const cacheKey = `${purpose} ${url}`;
  let store = connections.get(cacheKey);
  if (!store) {
    store = TensorStore.connect(url, {
      ...databaseAccess(),
      connectTimeoutMs: purpose === 'control' ? Math.max(500, 2 * heartbeatMs) : Math.max(1000, 5 * heartbeatMs),
      commandTimeoutMs: purpose === 'control' ? Math.max(250, heartbeatMs) : Math.max(10_000, 50 * heartbeatMs),
      retries: purpose === 'control' ? 0 : 1,
      // peers' ACL users may not run INFO, which ioredis's ready check sends
      readyCheck: false,
    });
    connections.set(cacheKey, store);
    // a connection that failed is not reused: the next call connects again
    store.catch(() => connections.delete(cacheKey));
  }
  return store.then((s) => new PeerDb(s, url, () => forget(cacheKey, s)));
}

function forget(cacheKey: string, store: TensorStore): void {
  connections.delete(cacheKey);
  store.close().catch(() => undefined);
}

/** Closes every cached connection (end of a peer process, or of a test). */
export async function closeAllConnections(): Promise<void> {
  const all = [...connections.values()];
  connections.clear();
  await Promise.all(all.map((p) => p.then((s) => s.close()).catch(() => undefined)));
}

/**
 * Runs `fn` on another peer's database: that database failing is that peer failing (the state machine
 * recovers), whereas a peer's own database failing ends the peer process.
 */
export async function onPeer<T>(url: string, peer: number, heartbeatMs: number, fn: (db: PeerDb) => Promise<T>): Promise<T> {
  try {
    return await fn(await peerDb(url, 'data', heartbeatMs));
  } catch (e) {
    if (isConnectionFailure(e)) throw new PeerFailedError([peer], `peer ${peer}'s database failed: ${e.message}`);
    throw e;
  }
}

/** A broken connection is dropped from the cache, so that the next call reconnects. */
export function isConnectionFailure(e: unknown): e is RedisConnectionError {
  return e instanceof RedisConnectionError;
}

export class PeerDb {
  constructor(
    readonly store: TensorStore,
    readonly url: string,
    private readonly drop: () => void,
  ) {}

  async command(name: string, ...args: RedisArg[]): Promise<RawReply> {
    try {
      return await this.store.command(name, ...args);
    } catch (e) {
      if (isConnectionFailure(e)) this.drop();
      throw e;
    }
  }

  async getBlob(key: string): Promise<Buffer | null> {
    return (await this.command('TENSOR.GET', key, 'BLOB')) as Buffer | null;
  }

  async setFloat32(key: string, bytes: Buffer | Uint8Array, ver: number): Promise<void> {
    const data = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    await this.command('TENSOR.SET', key, 'FLOAT32', 'SHAPE', String(data.length / 4), 'BLOB', data, 'VERSION', String(ver));
  }

  async avg(dest: string, sources: readonly string[], ver: number): Promise<void> {
    await this.command('TENSOR.AVG', dest, 'VERSION', String(ver), ...sources);
  }

  async split(src: string, dests: readonly string[], ver: number): Promise<void> {
    await this.command('TENSOR.SPLIT', src, String(dests.length), ...dests, 'VERSION', String(ver));
  }

  async cat(dest: string, sources: readonly string[], ver: number): Promise<void> {
    await this.command('TENSOR.CAT', dest, String(sources.length), ...sources, 'VERSION', String(ver));
  }

  /**
   * TENSOR.WAIT: blocks in the server until every key holds version >= ver. Resolves to the versions, or
   * null when `timeoutMs` passed first.
   */
  async wait(keys: readonly string[], ver: number, timeoutMs: number): Promise<number[] | null> {
    const reply = await this.command('TENSOR.WAIT', 'TIMEOUT', String(Math.max(1, Math.round(timeoutMs))), 'VERSION', String(ver), ...keys);
    return reply === null ? null : (reply as RawReply[]).map(Number);
  }

  async versionOf(key: string): Promise<number | null> {
    const meta = await this.store.meta(key);
    return meta ? meta.version : null;
  }

  async getJson<T>(key: string): Promise<T | null> {
    const s = await this.command('GET', key);
    return s === null ? null : (JSON.parse(String(s)) as T);
  }

  async setJson(key: string, value: unknown, ttlMs?: number): Promise<void> {
    const args: RedisArg[] = [key, JSON.stringify(value)];
    if (ttlMs !== undefined) args.push('PX', String(Math.max(1, Math.round(ttlMs))));
    await this.command('SET', ...args);
  }
}

export { TensorCommandError };

/** Borrows a reply's bytes as float32 when aligned, copies them otherwise. */
export function asFloat32(buf: Buffer): Float32Array {
  if (buf.byteOffset % 4 === 0) return new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  return new Float32Array(new Uint8Array(buf).buffer);
}
