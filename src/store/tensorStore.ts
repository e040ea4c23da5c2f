import { Tensor } from '../tensor';
import { TENSOR_ACCUM } from './commands/accum';
import { AdamCommandOptions, TENSOR_ADAM } from './commands/adam';
import { TENSOR_AVG } from './commands/avg';
import { GetOptions, TENSOR_GET, TENSOR_GET_BLOB, TENSOR_GET_META } from './commands/get';
import { TENSOR_SET, TENSOR_SET_PROTO } from './commands/set';
import { SgdCommandOptions, TENSOR_SGD } from './commands/sgd';
import { ConnectOptions, commandTimeout, connectIoredis } from './connect';
import { toStoreError, withCommandTimeout } from './failures';
import { RawReply, RedisArg, TensorCommand, TensorMeta } from './reply';
import { OutgoingCommand, SupportedClient, Transport, transportFor } from './transport';

/** the longest close() waits for replies still due before it drops the connection */
const CLOSE_TIMEOUT_MS = 5000;

/** Where a store's commands go, how long each may take, and how failures are named. */
interface Connection {
  readonly transport: Transport;
  readonly commandTimeoutMs: number;
  readonly endpoint: string;
}

/** Commands queued by a pipeline, sent in one round trip by exec(). */
export class TensorPipeline {
  private readonly queued: Array<{ out: OutgoingCommand; parse: (r: RawReply) => unknown }> = [];

  constructor(private readonly connection: Connection) {}

  private add<A extends unknown[], R>(cmd: TensorCommand<A, R>, ...args: A): this {
    this.queued.push({ out: { name: cmd.name, args: cmd.build(...args), readonly: cmd.readonly }, parse: cmd.parse });
    return this;
  }

  set(key: string, t: Tensor) { return this.add(TENSOR_SET, key, t); }
  setEncoded(key: string, encoded: Uint8Array) { return this.add(TENSOR_SET_PROTO, key, encoded); }
  get(key: string, options?: GetOptions) { return this.add(TENSOR_GET, key, options); }
  getBlob(key: string, options?: GetOptions) { return this.add(TENSOR_GET_BLOB, key, options); }
  meta(key: string) { return this.add(TENSOR_GET_META, key); }
  avg(dest: string, sources: readonly string[]) { return this.add(TENSOR_AVG, dest, sources); }
  accum(acc: string, src: string, weight?: number) { return this.add(TENSOR_ACCUM, acc, src, weight); }
  sgd(param: string, grad: string, options: SgdCommandOptions) { return this.add(TENSOR_SGD, param, grad, options); }
  adam(param: string, grad: string, options: AdamCommandOptions) { return this.add(TENSOR_ADAM, param, grad, options); }

  get length(): number {
    return this.queued.length;
  }

  /**
   * Each command's parsed result, or the error it failed with (TensorCommandError for module replies,
   * RedisConnectionError for a lost connection). Rejects with RedisConnectionError ERR_COMMAND_TIMEOUT when
   * the replies do not arrive within the command timeout.
   */
  async exec(): Promise<unknown[]> {
    const queued = this.queued.splice(0);
    const { transport, commandTimeoutMs, endpoint } = this.connection;
    const settled = await withCommandTimeout(transport.sendMany(queued.map((q) => q.out)), commandTimeoutMs, 'pipeline', endpoint);
    return settled.map((s, i) => {
      if (!s.ok) return toStoreError(s.error, queued[i].out.name, endpoint);
      try {
        return queued[i].parse(s.reply);
      } catch (e) {
        return e;
      }
    });
  }
}

export interface TensorStoreOptions {
  /** close() also closes the client (default false: a client passed in stays the caller's) */
  closeClient?: boolean;
  /** how long a command (or a pipeline) may wait for its reply before ERR_COMMAND_TIMEOUT (default 30000 ms; Infinity: no bound) */
  commandTimeoutMs?: number;
  /** how error messages name the server (default 'the Redis server'; connect() uses the URL) */
  endpoint?: string;
}

/**
 * Typed access to the spirt Redis module over ioredis or node-redis. Module errors reject with
 * TensorCommandError (code 'ERR' or 'WRONGTYPE', the server's message, the command name); a server that
 * cannot be reached, is lost or stays silent rejects with RedisConnectionError (ERR_CONNECT, ERR_AUTH,
 * ERR_CONNECTION_LOST, ERR_COMMAND_TIMEOUT), whichever client library is underneath.
 */
export class TensorStore {
  private readonly connection: Connection;

  /**
   * Wraps an ioredis Redis/Cluster or a node-redis client/cluster. Reconnection stays the client's own
   * business (configure it there); the command timeout applies on top of whatever the client does.
   */
  constructor(client: SupportedClient, options: TensorStoreOptions = {}) {
    this.connection = {
      transport: transportFor(client, options.closeClient ?? false),
      commandTimeoutMs: commandTimeout(options.commandTimeoutMs),
      endpoint: options.endpoint ?? 'the Redis server',
    };
  }

  /**
   * Connects with ioredis to redis://[user:password@]host:port[/db], rediss://... (TLS) or unix:///path.
   * Rejects with RedisConnectionError ERR_CONNECT or ERR_AUTH within connectTimeoutMs; a connection lost
   * later is retried `retries` times, then pending and later commands reject with ERR_CONNECTION_LOST.
   * close() disconnects.
   */
  static async connect(url: string, options: ConnectOptions = {}): Promise<TensorStore> {
    const commandTimeoutMs = commandTimeout(options.commandTimeoutMs);
    const { client, endpoint } = await connectIoredis(url, options);
    return new TensorStore(client as unknown as SupportedClient, { closeClient: true, commandTimeoutMs, endpoint });
  }

  get clientKind(): Transport['kind'] {
    return this.connection.transport.kind;
  }

  private async send(out: OutgoingCommand): Promise<RawReply> {
    const { transport, commandTimeoutMs, endpoint } = this.connection;
    try {
      return await withCommandTimeout(transport.send(out), commandTimeoutMs, out.name, endpoint);
    } catch (e) {
      throw toStoreError(e, out.name, endpoint);
    }
  }

  private async run<A extends unknown[], R>(cmd: TensorCommand<A, R>, ...args: A): Promise<R> {
    return cmd.parse(await this.send({ name: cmd.name, args: cmd.build(...args), readonly: cmd.readonly }));
  }

  /** Any command, for what the typed methods do not cover (DEL, EVALSHA, ...). */
  command(name: string, ...args: RedisArg[]): Promise<RawReply> {
    return this.send({ name, args, readonly: false });
  }

  set(key: string, t: Tensor): Promise<void> { return this.run(TENSOR_SET, key, t); }
  /** Stores an encoded spirt.Tensor (see encodeTensor) as it arrived from another function. */
  setEncoded(key: string, encoded: Uint8Array): Promise<void> { return this.run(TENSOR_SET_PROTO, key, encoded); }
  /** The tensor, or null when the key does not exist. */
  get(key: string, options?: GetOptions): Promise<Tensor | null> { return this.run(TENSOR_GET, key, options); }
  getBlob(key: string, options?: GetOptions): Promise<Buffer | null> { return this.run(TENSOR_GET_BLOB, key, options); }
  meta(key: string): Promise<TensorMeta | null> { return this.run(TENSOR_GET_META, key); }
  /** dest = mean of sources, computed inside Redis. */
  avg(dest: string, sources: readonly string[]): Promise<void> { return this.run(TENSOR_AVG, dest, sources); }
  /** acc += weight * src; resolves to the accumulator's count. */
  accum(acc: string, src: string, weight?: number): Promise<number> { return this.run(TENSOR_ACCUM, acc, src, weight); }
  sgd(param: string, grad: string, options: SgdCommandOptions): Promise<void> { return this.run(TENSOR_SGD, param, grad, options); }
  adam(param: string, grad: string, options: AdamCommandOptions): Promise<void> { return this.run(TENSOR_ADAM, param, grad, options); }

  /** Commands sent together in one round trip. With an ioredis Cluster the keys of one pipeline must share a
   * slot (use hash tags such as {peer3}); node-redis clusters route each command on its own. */
  pipeline(): TensorPipeline {
    return new TensorPipeline(this.connection);
  }

  /** Closes the connection when connect() opened it; a client passed in stays the caller's to close. */
  close(): Promise<void> {
    return this.connection.transport.close(Math.min(this.connection.commandTimeoutMs, CLOSE_TIMEOUT_MS));
  }
}
