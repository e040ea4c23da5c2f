// One way to send TENSOR.* commands over whichever client the user brings: ioredis (Redis or Cluster) or
// node-redis (@redis/client, client or cluster). Replies come back with bulk strings as Buffers.
import { ArgumentError } from '../errors';
import { withCommandTimeout } from './failures';
import { RawReply, RedisArg } from './reply';

export interface OutgoingCommand {
  name: string;
  args: RedisArg[];
  readonly: boolean;
}

export type Settled = { ok: true; reply: RawReply } | { ok: false; error: unknown };

export interface Transport {
  readonly kind: 'ioredis' | 'node-redis' | 'node-redis-cluster';
  send(command: OutgoingCommand): Promise<RawReply>;
  /** all commands in one pipeline (one round trip); each settles on its own */
  sendMany(commands: OutgoingCommand[]): Promise<Settled[]>;
  /** closes an owned client, waiting at most timeoutMs for the replies still due */
  close(timeoutMs: number): Promise<void>;
}

/** The parts of an ioredis Redis or Cluster instance used here. */
export interface IoRedisLike {
  callBuffer(command: string, ...args: RedisArg[]): Promise<unknown>;
  pipeline(): { callBuffer(command: string, ...args: RedisArg[]): unknown; exec(): Promise<Array<[Error | null, unknown]> | null> };
  quit(): Promise<unknown>;
  disconnect(): void;
}

/** The parts of a node-redis (@redis/client v4/v5) client used here. */
export interface NodeRedisLike {
  sendCommand(args: RedisArg[], options?: object): Promise<unknown>;
}

/** The parts of a node-redis cluster used here. */
export interface NodeRedisClusterLike {
  sendCommand(firstKey: RedisArg | undefined, isReadonly: boolean | undefined, args: RedisArg[], options?: object): Promise<unknown>;
  getSlotMaster(slot: number): unknown;
}

export type SupportedClient = IoRedisLike | NodeRedisLike | NodeRedisClusterLike;

// RESP bulk strings ('$' = 36) as Buffers instead of UTF-8 strings: tensors are binary
const binaryReplies = { typeMapping: { 36: Buffer } };

function ioredisTransport(client: IoRedisLike, owned: boolean): Transport {
  return {
    kind: 'ioredis',
    send: (c) => client.callBuffer(c.name, ...c.args) as Promise<RawReply>,
    async sendMany(commands) {
      const p = client.pipeline();
      for (const c of commands) p.callBuffer(c.name, ...c.args);
      const results = (await p.exec()) ?? [];
      return results.map(([error, reply]) => (error ? { ok: false, error } : { ok: true, reply: reply as RawReply }));
    },
    async close(timeoutMs) {
      if (!owned) return;
      // QUIT lets the replies still due arrive; a paused or dead server must not make close() hang
      await withCommandTimeout(client.quit(), timeoutMs, 'QUIT', 'the server').catch(() => undefined);
      client.disconnect();
    },
  };
}

function settleAll(promises: Promise<unknown>[]): Promise<Settled[]> {
  return Promise.allSettled(promises).then((rs) =>
    rs.map((r) => (r.status === 'fulfilled' ? { ok: true, reply: r.value as RawReply } : { ok: false, error: r.reason })));
}

function nodeRedisTransport(client: NodeRedisLike): Transport {
  const send = (c: OutgoingCommand) => client.sendCommand([c.name, ...c.args], binaryReplies) as Promise<RawReply>;
  return {
    kind: 'node-redis',
    send,
    // node-redis pipelines commands issued in the same tick by itself
    sendMany: (commands) => settleAll(commands.map(send)),
    async close() {},
  };
}

function nodeRedisClusterTransport(client: NodeRedisClusterLike): Transport {
  const send = (c: OutgoingCommand) =>
    client.sendCommand(c.args[0], c.readonly, [c.name, ...c.args], binaryReplies) as Promise<RawReply>;
  return {
    kind: 'node-redis-cluster',
    send,
    sendMany: (commands) => settleAll(commands.map(send)),
    async close() {},
  };
}

/** Wraps a client; `owned` clients are closed by close(). */
export function transportFor(client: SupportedClient, owned = false): Transport {
  const c = client as unknown as Record<string, unknown>;
  if (typeof c.callBuffer === 'function' && typeof c.pipeline === 'function') return ioredisTransport(client as IoRedisLike, owned);
  if (typeof c.sendCommand === 'function' && typeof c.getSlotMaster === 'function') {
    return nodeRedisClusterTransport(client as NodeRedisClusterLike);
  }
  if (typeof c.sendCommand === 'function') return nodeRedisTransport(client as NodeRedisLike);
  throw new ArgumentError('ERR_CLIENT', 'expected an ioredis client (Redis or Cluster) or a node-redis client (createClient or createCluster)');
}
