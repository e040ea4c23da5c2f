// TensorStore.connect's own ioredis connection: parsed from a URL, bounded in time, retried a fixed number of
// times, and failing with RedisConnectionError instead of reconnecting forever.
import Redis, { RedisOptions } from 'ioredis';
import { ArgumentError, RedisConnectionError } from '../errors';
import { requireInteger, requireNumber } from '../validate';

export interface TlsOptions {
  /** CA certificate(s) that signed the server's certificate (PEM); default: the system's */
  ca?: string | Buffer | Array<string | Buffer>;
  /** client certificate and key (PEM), for servers that authenticate clients (tls-auth-clients) */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** name the server's certificate must carry (and SNI); default: the host */
  servername?: string;
}

export interface ConnectOptions {
  /** how long connecting may take, retries included, before ERR_CONNECT (default 5000 ms) */
  connectTimeoutMs?: number;
  /** how long a command (or a pipeline) may wait for its reply before ERR_COMMAND_TIMEOUT (default 30000 ms; Infinity: no bound) */
  commandTimeoutMs?: number;
  /** reconnection attempts after a failed or lost connection, before ERR_CONNECT / ERR_CONNECTION_LOST (default 2) */
  retries?: number;
  /** TLS for this connection (also turned on by a rediss:// URL) */
  tls?: boolean | TlsOptions;
  /** wait until the server has loaded its data (INFO persistence) before the first command (default true) */
  readyCheck?: boolean;
  /** ACL user and password; they override those in the URL (redis://user:password@host:port) */
  username?: string;
  password?: string;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
export const DEFAULT_COMMAND_TIMEOUT_MS = 30_000;
const DEFAULT_RETRIES = 2;

function positiveMs(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (value === Infinity) return value;
  return requireNumber(value, name, { min: 1 });
}

/** A command timeout: a positive number of ms, or Infinity. */
export function commandTimeout(value: number | undefined): number {
  return positiveMs(value, DEFAULT_COMMAND_TIMEOUT_MS, 'commandTimeoutMs');
}

interface Endpoint {
  options: RedisOptions;
  /** the URL without its password, for messages */
  display: string;
}

/** redis://[user[:password]@]host[:port][/db], rediss://... (TLS), or unix:///path/to/socket. */
export function parseRedisUrl(url: string): Endpoint {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ArgumentError('ERR_URL', `'${url}' is not a URL (redis://host:port, rediss://host:port or unix:///path)`);
  }
  const decode = (s: string) => (s ? decodeURIComponent(s) : undefined);
  const username = decode(u.username), password = decode(u.password);
  const credentials = { ...(username ? { username } : {}), ...(password ? { password } : {}) };
  const display = password ? url.replace(`:${u.password}@`, ':***@') : url;
  if (u.protocol === 'unix:') {
    if (!u.pathname || u.pathname === '/') throw new ArgumentError('ERR_URL', `${display} names no socket path`);
    return { options: { path: decodeURIComponent(u.pathname), ...credentials }, display };
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new ArgumentError('ERR_URL', `${display}: the scheme must be redis://, rediss:// or unix://`);
  }
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw new ArgumentError('ERR_URL', `${display}: '${u.pathname.slice(1)}' is not a database number`);
  return {
    options: {
      host: u.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1',
      port: u.port ? Number(u.port) : 6379,
      db,
      ...credentials,
      ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
    },
    display,
  };
}

const AUTH_REFUSED = /^(WRONGPASS|NOAUTH|ERR invalid password|ERR AUTH)/;

/**
 * An ioredis client connected and ready, or a RedisConnectionError within connectTimeoutMs. The client never
 * reconnects more than `retries` times in a row, and has an error listener for its whole life.
 */
export async function connectIoredis(url: string, o: ConnectOptions = {}): Promise<{ client: Redis; endpoint: string }> {
  const { options, display } = parseRedisUrl(url);
  const connectTimeoutMs = positiveMs(o.connectTimeoutMs, DEFAULT_CONNECT_TIMEOUT_MS, 'connectTimeoutMs');
  const retries = o.retries === undefined ? DEFAULT_RETRIES : requireInteger(o.retries, 'retries', 0);
  if (o.tls) options.tls = o.tls === true ? {} : { ...o.tls };
  if (o.username !== undefined) options.username = o.username;
  if (o.password !== undefined) options.password = o.password;
  const client = new Redis({
    ...options,
    lazyConnect: true,
    enableReadyCheck: o.readyCheck ?? true,
    connectTimeout: connectTimeoutMs === Infinity ? undefined : connectTimeoutMs,
    // 100, 200, 400 ... ms between attempts; null ends the client, rejecting whatever waits on it
    retryStrategy: (attempt) => (attempt <= retries ? Math.min(100 * 2 ** (attempt - 1), 2000) : null),
    maxRetriesPerRequest: retries,
    // after disconnect(), how long ioredis waits for the server's side of the close; a dead server never
    // sends it, and the default 2 s timer would keep the process alive that long
    disconnectTimeout: 200,
  });
  let lastError: Error | undefined;
  client.on('error', (e: Error) => {
    lastError = e;
  });
  await new Promise<void>((resolve, reject) => {
    const fail = (code: string, message: string) => {
      settle();
      client.disconnect();
      reject(new RedisConnectionError(code, message, undefined, { cause: lastError }));
    };
    const onReady = () => {
      settle();
      resolve();
    };
    const onEnd = () => fail('ERR_CONNECT', `could not connect to ${display} (${retries + 1} attempts): ${lastError?.message ?? 'connection closed'}`);
    const onError = (e: Error) => {
      if (AUTH_REFUSED.test(e.message)) fail('ERR_AUTH', `${display} refused the credentials: ${e.message}`);
    };
    const timer = connectTimeoutMs === Infinity ? undefined : setTimeout(() =>
      fail('ERR_CONNECT', `could not connect to ${display} within ${connectTimeoutMs} ms${lastError ? `: ${lastError.message}` : ' (no answer)'}`),
    connectTimeoutMs);
    function settle() {
      clearTimeout(timer);
      client.off('ready', onReady).off('end', onEnd).off('error', onError);
    }
    client.on('ready', onReady).on('end', onEnd).on('error', onError);
    // the outcome comes from the events above: connect() itself rejects at the first failed attempt
    client.connect().catch(() => undefined);
  });
  return { client, endpoint: display };
}
