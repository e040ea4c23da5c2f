// Module-type DUMP payloads built field by field (RDB_TYPE_MODULE_2), so RESTORE can feed the module's RDB
// loader values no command would create. The server must run with DEBUG SET-SKIP-CHECKSUM-VALIDATION 1.
import Redis from 'ioredis';

const OPCODE = { eof: 0, uint: 2, double: 4, string: 5 } as const;

export type Field = ['uint', bigint] | ['double', number] | ['string', Buffer];

/** Redis's rdbSaveLen encoding. */
function rdbLen(n: bigint): Buffer {
  if (n < 64n) return Buffer.from([Number(n)]);
  if (n < 16384n) return Buffer.from([0x40 | Number(n >> 8n), Number(n & 0xffn)]);
  if (n <= 0xffffffffn) {
    const b = Buffer.alloc(5);
    b[0] = 0x80;
    b.writeUInt32BE(Number(n), 1);
    return b;
  }
  const b = Buffer.alloc(9);
  b[0] = 0x81;
  b.writeBigUInt64BE(n, 1);
  return b;
}

function field([kind, value]: Field): Buffer {
  if (kind === 'uint') return Buffer.concat([rdbLen(BigInt(OPCODE.uint)), rdbLen(value)]);
  if (kind === 'double') {
    const b = Buffer.alloc(9);
    b[0] = OPCODE.double;
    b.writeDoubleLE(value, 1);
    return b;
  }
  return Buffer.concat([rdbLen(BigInt(OPCODE.string)), rdbLen(BigInt(value.length)), value]);
}

export interface TensorFields {
  /** encoding version: 2 adds the version before the data */
  encver?: 1 | 2;
  dtype: bigint;
  shape: bigint[];
  /** ndim as stored (default shape.length) */
  ndim?: bigint;
  accumulator?: bigint;
  count?: bigint;
  weightSum?: number;
  version?: bigint;
  data: Buffer;
}

/** The field sequence of a tensor value: dtype, ndim, dims, accumulator flag, count, weight sum, (V2) version, data. */
export function tensorFields(t: TensorFields): Field[] {
  return [
    ['uint', t.dtype], ['uint', t.ndim ?? BigInt(t.shape.length)], ...t.shape.map((d): Field => ['uint', d]),
    ['uint', t.accumulator ?? 0n], ['uint', t.count ?? 0n], ['double', t.weightSum ?? 0],
    ...((t.encver ?? 2) === 2 ? [['uint', t.version ?? 0n] as Field] : []), ['string', t.data],
  ];
}

/**
 * A DUMP payload for the spirt type holding the given fields at an encoding version (the low 10 bits of the
 * type id); `template` is a real DUMP of a tensor, which supplies the type id and the RDB version. CRC zero.
 */
export function modulePayload(template: Buffer, fields: Field[], encver: 1 | 2 = 2): Buffer {
  const head = Buffer.from(template.subarray(0, 10)); // RDB_TYPE_MODULE_2, the 64-bit type id (0x81 + 8 bytes BE)
  head.writeUInt16BE((head.readUInt16BE(8) & ~0x3ff) | encver, 8);
  const rdbVersion = template.subarray(template.length - 10, template.length - 8);
  return Buffer.concat([head, ...fields.map(field), rdbLen(BigInt(OPCODE.eof)), rdbVersion, Buffer.alloc(8)]);
}

/** A real DUMP of a small tensor: the template modulePayload needs. */
export async function dumpTemplate(r: Redis): Promise<Buffer> {
  await r.call('TENSOR.SET', '__template', 'INT8', 'SHAPE', '1', 'BLOB', 'x');
  const dump = (await r.dumpBuffer('__template')) as Buffer;
  await r.del('__template');
  return dump;
}
