import * as COMMANDS from './commands';
import { ConnectOptions, commandTimeout, connectIoredis } from './connect';
import { toStoreError, withCommandTimeout } from './failures';
import { RawReply, RedisArg, TensorCommand } from './reply';
import { OutgoingCommand, SupportedClient, Transport, transportFor } from './transport';

/** Every export of ./commands must be a command: anything else is a compile error here. */
type CommandTable<T extends Record<string, TensorCommand<never, unknown>>> = T;
type Commands = CommandTable<typeof COMMANDS>;
type ArgsOf<C> = C extends TensorCommand<infer A, unknown> ? A : never;
type ResultOf<C> = C extends TensorCommand<never, infer R> ? R : never;

/** TensorStore's command methods: one per entry of the command table, resolving to its parsed reply. */
type StoreCommands = { [K in keyof Commands]: (...args: ArgsOf<Commands[K]>) => Promise<ResultOf<Commands[K]>> };
/** TensorPipeline's command methods: each queues its command and adds its result type to the pipeline's. */
type PipelineCommands<T extends unknown[]> = {
  [K in keyof Commands]: (...args: ArgsOf<Commands[K]>) => TensorPipeline<[...T, ResultOf<Commands[K]>]>;
};
/** What exec() gives for each queued command: its result, or the error it failed with. */
type Settled<T extends unknown[]> = { [I in keyof T]: T[I] | Error };

/** Defines one method per command on a prototype; a command may not take the name of a method it already has. */
function defineCommandMethods(proto: object, method: (cmd: TensorCommand<unknown[], unknown>) => (...args: unknown[]) => unknown): void {
  for (const [name, cmd] of Object.entries(COMMANDS)) {
    if (name in proto) throw new Error(`the command table's '${name}' would replace ${proto.constructor.name}.${name}: rename its export`);
    Object.defineProperty(proto, name, { value: method(cmd as TensorCommand<unknown[], unknown>), writable: true, configurable: true });
  }
}

/** the longest close() waits for replies still due before it drops the connection */
const CLOSE_TIMEOUT_MS = 5000;

/** Where a store's commands go, how long each may take, and how failures are named. */
interface Connection {
  readonly transport: Transport;
  readonly commandTimeoutMs: number;
  readonly endpoint: string;
}

export interface TensorPipeline<T extends unknown[] = []> extends PipelineCommands<T> {}

/**
 * Commands queued by a pipeline, sent in one round trip by exec(). Its type parameter lists the result type
 * of each command queued through the chain that produced it: `store.pipeline().set(k, t).meta(k)` is a
 * TensorPipeline<[void, TensorMeta | null]>.
 */
export class TensorPipeline<T extends unknown[] = []> {
  static {
    defineCommandMethods(TensorPipeline.prototype, (cmd) => function (this: TensorPipeline<unknown[]>, ...args) {
      this.queued.push({ out: { name: cmd.name, args: cmd.build(...args), readonly: cmd.readonly }, parse: cmd.parse });
      return this;
    });
  }

  private readonly queued: Array<{ out: OutgoingCommand; parse: (r: RawReply) => unknown }> = [];

  constructor(private readonly connection: Connection) {}

  get length(): number {
    return this.queued.length;
  }

  /**
   * Each command's parsed result, or the error it failed with (TensorCommandError for module replies,
   * RedisConnectionError for a lost connection), typed per command for those queued through this pipeline's
   * chain (commands queued in a loop on an earlier value follow, as unknown). Rejects with
   * RedisConnectionError ERR_COMMAND_TIMEOUT when the replies do not arrive within the command timeout.
   */
  async exec(): Promise<[...Settled<T>, ...unknown[]]> {
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
    }) as [...Settled<T>, ...unknown[]];
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

export interface TensorStore extends StoreCommands {}

/**
 * Typed access to the spirt Redis module over ioredis or node-redis: one method per command of the command
 * table (./commands: set, setEncoded, get, getBlob, meta, avg, agg, accum, sgd, adam, ...), plus command() for
 * any other. Module errors reject with
 * TensorCommandError (code 'ERR' or 'WRONGTYPE', the server's message, the command name); a server that
 * cannot be reached, is lost or stays silent rejects with RedisConnectionError (ERR_CONNECT, ERR_AUTH,
 * ERR_CONNECTION_LOST, ERR_COMMAND_TIMEOUT), whichever client library is underneath.
 */
export class TensorStore {
  static {
    defineCommandMethods(TensorStore.prototype, (cmd) => function (this: TensorStore, ...args) {
      return this.run(cmd, ...args);
    });
  }

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

  /** Commands sent together in one round trip. With an ioredis Cluster the keys of one pipeline must share a
   * slot (use hash tags such as {peer3}); node-redis clusters route each command on its own. */
  pipeline(): TensorPipeline<[]> {
    return new TensorPipeline(this.connection);
  }

  /** Closes the connection when connect() opened it; a client passed in stays the caller's to close. */
  close(): Promise<void> {
    return this.connection.transport.close(Math.min(this.connection.commandTimeoutMs, CLOSE_TIMEOUT_MS));
  }
}
