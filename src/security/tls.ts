// TLS for a run's embedded servers: a per-run CA and a server and a client certificate made with the openssl
// CLI. Servers verify clients (tls-auth-clients), clients verify the server against the run's CA.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { RedisLaunchError } from '../errors';
import { TlsOptions } from '../store/connect';

/** PEM files of one run; the CA's key is deleted once both certificates are signed, so no more can be made. */
export interface TlsMaterial {
  readonly dir: string;
  readonly caFile: string;
  readonly serverCertFile: string;
  readonly serverKeyFile: string;
  readonly clientCertFile: string;
  readonly clientKeyFile: string;
}

/** The name the server certificate carries (with IP 127.0.0.1): the embedded servers listen on loopback. */
export const SERVER_NAME = 'localhost';

function openssl(dir: string, args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    const why = r.error ? `${r.error.message} (install it: apt-get install -y openssl)` : r.stderr.trim();
    throw new RedisLaunchError('ERR_TLS_SETUP', `openssl ${args[0]} failed: ${why}`);
  }
}

/**
 * A new CA, a server certificate for localhost / 127.0.0.1 and a client certificate, Ed25519, valid for
 * `days` (default 7), written into `dir` (created 0700; keys 0600).
 */
export function createTlsMaterial(dir: string, options: { days?: number } = {}): TlsMaterial {
  const days = String(options.days ?? 7);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const at = (f: string) => path.join(dir, f);
  fs.writeFileSync(at('server.ext'), `subjectAltName=DNS:${SERVER_NAME},IP:127.0.0.1\nextendedKeyUsage=serverAuth\n`);
  fs.writeFileSync(at('client.ext'), 'extendedKeyUsage=clientAuth\n');
  try {
    openssl(dir, ['req', '-x509', '-newkey', 'ed25519', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt',
      '-subj', '/CN=spirt run CA', '-days', days, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign']);
    for (const [name, cn] of [['server', SERVER_NAME], ['client', 'spirt peer']]) {
      openssl(dir, ['req', '-newkey', 'ed25519', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
      openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
        '-out', `${name}.crt`, '-days', days, '-extfile', `${name}.ext`]);
    }
  } finally {
    for (const f of ['ca.key', 'ca.srl', 'server.csr', 'client.csr', 'server.ext', 'client.ext']) fs.rmSync(at(f), { force: true });
  }
  for (const key of ['server.key', 'client.key']) fs.chmodSync(at(key), 0o600);
  return {
    dir, caFile: at('ca.crt'), serverCertFile: at('server.crt'), serverKeyFile: at('server.key'),
    clientCertFile: at('client.crt'), clientKeyFile: at('client.key'),
  };
}

/** TensorStore.connect's `tls` option for a client of this run: the run's CA, the client certificate. */
export function clientTlsOptions(m: TlsMaterial): TlsOptions {
  return {
    ca: fs.readFileSync(m.caFile), cert: fs.readFileSync(m.clientCertFile), key: fs.readFileSync(m.clientKeyFile),
    servername: SERVER_NAME,
  };
}
