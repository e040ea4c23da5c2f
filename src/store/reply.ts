import { DType, dtypeFromCommand } from '../dtype';

/** An argument of a Redis command. */
export type RedisArg = string | Buffer;

/** A reply as the adapters normalize it: bulk strings as Buffers, integers as numbers, arrays, nil. */
export type RawReply = null | number | string | Buffer | RawReply[];

/** What a TENSOR.* command sends and how its reply is read. One file per command under ./commands. */
export interface TensorCommand<A extends unknown[], R> {
  readonly name: string;
  /** true for commands that only read (routing to replicas, cluster readonly) */
  readonly readonly: boolean;
  /** arguments after the command name; the first one is always a key (cluster routing) */
  build(...args: A): RedisArg[];
  parse(reply: RawReply): R;
}

export function replyString(reply: RawReply): string {
  if (Buffer.isBuffer(reply)) return reply.toString('utf8');
  if (typeof reply === 'string') return reply;
  throw new TypeError(`expected a string reply, got ${describe(reply)}`);
}

export function replyOk(reply: RawReply): void {
  const s = replyString(reply);
  if (s !== 'OK') throw new TypeError(`expected OK, got ${s}`);
}

export function replyInteger(reply: RawReply): number {
  if (typeof reply === 'number') return reply;
  throw new TypeError(`expected an integer reply, got ${describe(reply)}`);
}

export function replyBuffer(reply: RawReply): Buffer | null {
  if (reply === null) return null;
  if (Buffer.isBuffer(reply)) return reply;
  if (typeof reply === 'string') return Buffer.from(reply, 'binary');
  throw new TypeError(`expected a bulk reply, got ${describe(reply)}`);
}

/** TENSOR.GET ... META: ['dtype', name, 'shape', [dims], ('count', n, 'weight_sum', w)?] */
export interface TensorMeta {
  dtype: DType;
  shape: number[];
  /** present for accumulators: contributions so far and the sum of their weights */
  accumulator?: { count: number; weightSum: number };
  /** the version its last writer set (VERSION option; 0 when none did) */
  version: number;
}

export function replyMeta(reply: RawReply): TensorMeta | null {
  if (reply === null) return null;
  if (!Array.isArray(reply)) throw new TypeError(`expected an array reply, got ${describe(reply)}`);
  const fields = new Map<string, RawReply>();
  for (let i = 0; i + 1 < reply.length; i += 2) fields.set(replyString(reply[i]), reply[i + 1]);
  const shape = fields.get('shape');
  if (!Array.isArray(shape)) throw new TypeError('META reply has no shape');
  const meta: TensorMeta = { dtype: dtypeFromCommand(replyString(fields.get('dtype') ?? null)), shape: shape.map(replyInteger), version: replyInteger(fields.get('version') ?? 0) };
  if (fields.has('count')) {
    meta.accumulator = {
      count: replyInteger(fields.get('count') ?? null),
      weightSum: Number(replyString(fields.get('weight_sum') ?? null)),
    };
  }
  return meta;
}

function describe(reply: RawReply | undefined): string {
  return reply === null ? 'nil' : Array.isArray(reply) ? 'an array' : typeof reply;
}
