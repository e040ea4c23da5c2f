// A readiness probe over a raw RESP connection: which process answers on an address, and which modules it
// has loaded. No client library, so the launcher stays free of connection state it would have to tear down.
import net from 'node:net';
import tls from 'node:tls';

export type RespValue = string | number | null | Error | RespValue[];

/** One RESP2 value starting at `offset`, or undefined while the buffer does not hold all of it yet. */
export function parseResp(buf: Buffer, offset = 0): { value: RespValue; next: number } | undefined {
  const eol = buf.indexOf('\r\n', offset);
  if (eol < 0) return undefined;
  const type = String.fromCharCode(buf[offset]);
  const line = buf.toString('utf8', offset + 1, eol);
  const next = eol + 2;
  switch (type) {
    case '+':
      return { value: line, next };
    case '-':
      return { value: new Error(line), next };
    case ':':
      return { value: Number(line), next };
    case '$': {
      const len = Number(line);
      if (len < 0) return { value: null, next };
      if (buf.length < next + len + 2) return undefined;
      return { value: buf.toString('utf8', next, next + len), next: next + len + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { value: null, next };
      const items: RespValue[] = [];
      let at = next;
      for (let i = 0; i < count; i++) {
        const item = parseResp(buf, at);
        if (!item) return undefined;
        items.push(item.value);
        at = item.next;
      }
      return { value: items, next: at };
    }
    default:
      throw new Error(`unexpected RESP type '${type}'`);
  }
}

function encodeCommand(args: readonly string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
}

/** A TCP port on 127.0.0.1 (over TLS with `tls`: the options of tls.connect), or a unix socket. */
export type ProbeTarget = { port: number; tls?: tls.ConnectionOptions } | { path: string };

/**
 * Sends the commands in one write and resolves to their replies, or to undefined when nothing answers
 * (refused, closed, or no complete reply within timeoutMs).
 */
export function probe(target: ProbeTarget, commands: readonly string[][], timeoutMs = 1000): Promise<RespValue[] | undefined> {
  return new Promise((resolve) => {
    const secure = 'port' in target && target.tls;
    const sock = 'path' in target ? net.connect(target.path)
      : secure ? tls.connect({ ...target.tls, port: target.port, host: '127.0.0.1' }) : net.connect(target.port, '127.0.0.1');
    let received = Buffer.alloc(0);
    const done = (replies: RespValue[] | undefined) => {
      sock.destroy();
      resolve(replies);
    };
    sock.setTimeout(timeoutMs, () => done(undefined));
    sock.on('error', () => done(undefined));
    sock.on('close', () => done(undefined));
    sock.on(secure ? 'secureConnect' : 'connect', () => sock.write(commands.map(encodeCommand).join('')));
    sock.on('data', (d) => {
      received = Buffer.concat([received, d]);
      const replies: RespValue[] = [];
      let at = 0;
      while (replies.length < commands.length) {
        const r = parseResp(received, at);
        if (!r) return;
        replies.push(r.value);
        at = r.next;
      }
      done(replies);
    });
  });
}

/** The pid and loaded module names a server reports (INFO server, MODULE LIST), or its error reply. */
export interface ServerIdentity {
  pid?: number;
  modules: string[];
  /** an error reply (NOAUTH, LOADING, ...): the server is there but did not say who it is */
  error?: string;
}

export async function identifyServer(target: ProbeTarget, auth?: { username?: string; password: string }): Promise<ServerIdentity | undefined> {
  const authCommand = auth ? [['AUTH', ...(auth.username ? [auth.username] : []), auth.password]] : [];
  const replies = await probe(target, [...authCommand, ['INFO', 'server'], ['MODULE', 'LIST']]);
  if (!replies) return undefined;
  const failed = replies.find((r): r is Error => r instanceof Error);
  if (failed) return { modules: [], error: failed.message };
  const [info, modules] = replies.slice(authCommand.length);
  const pid = /process_id:(\d+)/.exec(String(info))?.[1];
  // MODULE LIST: one ['name', n, 'ver', v, ...] array per module
  const names = (Array.isArray(modules) ? modules : []).flatMap((m) => {
    const at = Array.isArray(m) ? m.indexOf('name') : -1;
    return at >= 0 ? [String((m as RespValue[])[at + 1])] : [];
  });
  return { ...(pid ? { pid: Number(pid) } : {}), modules: names };
}
