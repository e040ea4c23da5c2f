// What a failed call becomes: a server's error reply is a TensorCommandError; a connection that is refused,
// lost or silent is a RedisConnectionError with a stable code, whichever client library reported it.
import { RedisConnectionError, TensorCommandError } from '../errors';

// error classes, by constructor name along the prototype chain, of ioredis and node-redis (@redis/client)
const SERVER_REPLY = new Set(['ReplyError', 'ErrorReply']);
const CONNECTION_LOST = new Set([
  'MaxRetriesPerRequestError', 'ClusterAllFailedError', // ioredis
  'ClientClosedError', 'ClientOfflineError', 'SocketClosedUnexpectedlyError', 'DisconnectsClientError',
  'ReconnectStrategyError', 'RootNodesUnavailableError', 'ConnectionTimeoutError', // node-redis
]);
const COMMAND_TIMEOUT = new Set(['TimeoutError', 'SocketTimeoutError']); // node-redis
// ioredis reports these as plain Errors
const CONNECTION_LOST_MESSAGE = /^(Connection is closed\.|Stream isn't writeable|None of startup nodes is available|Failed to refresh slots cache)/;
const COMMAND_TIMEOUT_MESSAGE = /^Command timed out/;
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED']);

function classNames(e: Error): string[] {
  const names: string[] = [];
  for (let proto = Object.getPrototypeOf(e); proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    names.push(proto.constructor?.name);
  }
  return names;
}

// socket errors come from Node's own realm, which is not always the caller's (vm contexts, jest): no instanceof Error
function isError(e: unknown): e is Error {
  return typeof e === 'object' && e !== null && typeof (e as Error).message === 'string';
}

/** A client library's error as spirt's: TensorCommandError, RedisConnectionError, or the error itself. */
export function toStoreError(e: unknown, command: string, endpoint: string): unknown {
  if (!isError(e) || e instanceof RedisConnectionError || e instanceof TensorCommandError) return e;
  const names = classNames(e);
  if (names.some((n) => SERVER_REPLY.has(n))) {
    return new TensorCommandError(/^([A-Z][A-Z_]*)\b/.exec(e.message)?.[1] ?? 'ERR', e.message, command);
  }
  if (names.some((n) => COMMAND_TIMEOUT.has(n)) || COMMAND_TIMEOUT_MESSAGE.test(e.message)) {
    return new RedisConnectionError('ERR_COMMAND_TIMEOUT', `${command} on ${endpoint} timed out: ${e.message}`, command, { cause: e });
  }
  const code = (e as NodeJS.ErrnoException).code;
  if (names.some((n) => CONNECTION_LOST.has(n)) || CONNECTION_LOST_MESSAGE.test(e.message) || (code && SOCKET_CODES.has(code))) {
    return new RedisConnectionError('ERR_CONNECTION_LOST', `${command} failed: connection to ${endpoint} lost: ${e.message}`, command, { cause: e });
  }
  return e;
}

/**
 * `work`, or ERR_COMMAND_TIMEOUT when it has not settled after timeoutMs (Infinity: no bound). The timer is
 * cleared as soon as `work` settles, so it never keeps the process alive.
 */
export function withCommandTimeout<T>(work: Promise<T>, timeoutMs: number, command: string, endpoint: string): Promise<T> {
  if (timeoutMs === Infinity) return work;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RedisConnectionError('ERR_COMMAND_TIMEOUT',
      `${command} on ${endpoint} got no reply within ${timeoutMs} ms (server paused, overloaded or unreachable)`, command)), timeoutMs);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
