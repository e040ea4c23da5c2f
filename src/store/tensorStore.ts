import Redis from 'ioredis';
import { Tensor } from '../tensor';
import { TENSOR_ACCUM } from './commands/accum';
import { AdamCommandOptions, TENSOR_ADAM } from './commands/adam';
import { TENSOR_AVG } from './commands/avg';
import { GetOptions, TENSOR_GET, TENSOR_GET_BLOB, TENSOR_GET_META } from './commands/get';
import { TENSOR_SET, TENSOR_SET_PROTO } from './commands/set';
import { SgdCommandOptions, TENSOR_SGD } from './commands/sgd';
import { RawReply, RedisArg, TensorCommand, TensorMeta, toCommandError } from './reply';
import { OutgoingCommand, SupportedClient, Transport, transportFor } from './transport';

/** Commands queued by a pipeline, sent in one round trip by exec(). */
export class TensorPipeline {
  private readonly queued: Array<{ out: OutgoingCommand; parse: (r: RawReply) => unknown }> = [];

  constructor(private readonly transport: Transport) {}

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

  /** Each command's parsed result, or the error (a TensorCommandError for module replies) it failed with. */
  async exec(): Promise<unknown[]> {
    const queued = this.queued.splice(0);
    const settled = await this.transport.sendMany(queued.map((q) => q.out));
    return settled.map((s, i) => {
      if (!s.ok) return toCommandError(s.error, queued[i].out.name);
      try {
        return queued[i].parse(s.reply);
      } catch (e) {
        return e;
      }
    });
  }
}

/**
 * Typed access to the spirt Redis module over ioredis or node-redis. Module errors reject with
 * TensorCommandError (code 'ERR' or 'WRONGTYPE', the server's message, the command name).
 */
export class TensorStore {
  private readonly transport: Transport;

  /**
   * Wraps an ioredis Redis/Cluster or a node-redis client/cluster. close() leaves the client open unless
   * closeClient is set.
   */
  constructor(client: SupportedClient, options: { closeClient?: boolean } = {}) {
    this.transport = transportFor(client, options.closeClient ?? false);
  }

  /** Connects with ioredis to redis://host:port[/db] or unix:///path; close() disconnects. */
  static async connect(url: string): Promise<TensorStore> {
    const client = url.startsWith('unix://')
      ? new Redis({ path: url.slice('unix://'.length), lazyConnect: true })
      : new Redis(url, { lazyConnect: true });
    await client.connect();
    return new TensorStore(client as unknown as SupportedClient, { closeClient: true });
  }

  get clientKind(): Transport['kind'] {
    return this.transport.kind;
  }

  private async send(out: OutgoingCommand): Promise<RawReply> {
    try {
      return await this.transport.send(out);
    } catch (e) {
      throw toCommandError(e, out.name);
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
    return new TensorPipeline(this.transport);
  }

  /** Closes the connection when connect() opened it; a client passed in stays the caller's to close. */
  close(): Promise<void> {
    return this.transport.close();
  }
}
