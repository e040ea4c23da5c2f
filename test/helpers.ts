import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
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

/** A `node -r` preload, written into dir, that makes loading spirt.node fatal: for commands that must work without the addon. */
export function writeNoAddonPreload(dir: string): string {
  const preload = path.join(dir, 'no-addon.js');
  fs.writeFileSync(preload, `const dlopen = process.dlopen;
    process.dlopen = function (module, file, ...rest) {
      if (String(file).endsWith('spirt.node')) throw new Error('the native addon was loaded');
      return dlopen.call(this, module, file, ...rest);
    };`);
  return preload;
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

export interface TestCertificates {
  /** PEM files: a CA, a server certificate for localhost / 127.0.0.1 and a client certificate, both signed by the CA */
  caFile: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

/** A throwaway CA and certificates made with the openssl CLI in dir (Ed25519, valid for two days). */
export function makeTestCertificates(dir: string): TestCertificates {
  const openssl = (...args: string[]) => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.error?.message ?? r.stderr}`);
  };
  fs.writeFileSync(path.join(dir, 'san.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  openssl('req', '-x509', '-newkey', 'ed25519', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=spirt-test-ca', '-days', '2');
  for (const name of ['server', 'client']) {
    openssl('req', '-newkey', 'ed25519', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name === 'server' ? 'localhost' : 'spirt-client'}`);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', 'san.cnf');
  }
  const at = (f: string) => path.join(dir, f);
  return { caFile: at('ca.crt'), serverCert: at('server.crt'), serverKey: at('server.key'), clientCert: at('client.crt'), clientKey: at('client.key') };
}
