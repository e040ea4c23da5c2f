import net from 'node:net';
import { RunningRedis, StartRedisOptions, startRedis } from '../src/redis/launcher';

/** Sends one command over a raw RESP connection and returns the raw reply bytes (no client library involved). */
export function rawCommand(target: { port?: number; socketPath?: string }, args: Array<string | Buffer>): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = target.socketPath ? net.connect(target.socketPath) : net.connect(target.port!, '127.0.0.1');
    const chunks: Buffer[] = [];
    sock.on('error', reject);
    sock.on('connect', () => {
      const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
      for (const a of args) {
        const b = Buffer.isBuffer(a) ? a : Buffer.from(a);
        parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
      }
      sock.write(Buffer.concat(parts));
    });
    sock.on('data', (d) => {
      chunks.push(d);
      const all = Buffer.concat(chunks);
      if (all.length >= 3 && all.subarray(-2).toString() === '\r\n') {
        sock.destroy();
        resolve(all);
      }
    });
  });
}

/** Starts a private server for a describe block and stops it afterwards. */
export function withRedis(options: StartRedisOptions = {}): { current: () => RunningRedis } {
  let redis: RunningRedis | undefined;
  beforeAll(async () => {
    redis = await startRedis(options);
  });
  afterAll(async () => {
    await redis?.stop();
  });
  return { current: () => redis! };
}
