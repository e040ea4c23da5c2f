// Starts a private redis-server (optionally with the spirt module) for tests, benchmarks and the CLI.
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ArgumentError, RedisLaunchError } from '../errors';
import { AclLayout, aclFileText, applyPeerUsers, urlWithCredentials } from '../security/acl';
import { SERVER_NAME, TlsMaterial } from '../security/tls';
import { modulePath } from './modulePath';
import { identifyServer } from './probe';

export interface StartRedisOptions {
  /** load the spirt module (default true) */
  module?: boolean;
  /** listen on a unix socket instead of a free TCP port on 127.0.0.1 */
  unixSocket?: boolean;
  /** a fixed TCP port (1-65535) instead of a free one; a taken port is a RedisLaunchError ERR_PORT_IN_USE */
  port?: number;
  /** allow DEBUG (RELOAD, DIGEST-VALUE) from local connections */
  enableDebug?: boolean;
  /** more redis-server arguments, e.g. ['--appendonly', 'yes'] */
  args?: string[];
  /** data directory (default: a new temporary one, removed by stop() and on every failure) */
  dir?: string;
  /** where the temporary data directory and its log are created (default os.tmpdir()) */
  tmpParent?: string;
  /** environment for the server (default process.env); SPIRT_SIMD here picks the module's kernels */
  env?: NodeJS.ProcessEnv;
  /** how long to wait for the server to prove it is ready (default 10 s, 120 s under valgrind) */
  readyTimeoutMs?: number;
  /** credentials for the readiness check when `args` lock the default user (requirepass, ACL) */
  auth?: { username?: string; password: string };
  /** forward the server's log to this process's stdout */
  inheritOutput?: boolean;
  /**
   * ACL users (src/security/acl.ts): the default user off, the layout's admin (used by the launcher, and in
   * `url`) and one user per peer; `owner` is the peer whose database this server is.
   */
  acl?: { layout: AclLayout; owner?: string };
  /**
   * TLS only (src/security/tls.ts createTlsMaterial): the port speaks TLS and nothing else, clients must
   * present a certificate of the run's CA, and `url` is rediss://. Not with `unixSocket`.
   */
  tls?: TlsMaterial;
}

export interface RunningRedis {
  /** redis://127.0.0.1:PORT or unix:///path/to/socket; with `acl`, the admin's credentials are in it */
  readonly url: string;
  readonly host?: string;
  readonly port?: number;
  readonly socketPath?: string;
  readonly dir: string;
  readonly pid: number;
  /** the server's log file (beside a temporary dir, inside a given one); kept when the launch fails */
  readonly logFile: string;
  /**
   * SIGTERM to this server's own process (SIGKILL if it has not exited after a bound), then removes the
   * temporary directory and log; resolves to the exit code. Never signals any other process.
   */
  stop(): Promise<number | null>;
}

/** redis-server on PATH (or SPIRT_REDIS_SERVER), or a RedisLaunchError saying how to install it. */
export function findRedisServer(): string {
  const explicit = process.env.SPIRT_REDIS_SERVER;
  if (explicit) {
    if (!fs.existsSync(explicit)) throw new RedisLaunchError('ERR_REDIS_MISSING', `SPIRT_REDIS_SERVER=${explicit} does not exist`);
    return explicit;
  }
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, 'redis-server');
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      /* not in this directory */
    }
  }
  throw new RedisLaunchError('ERR_REDIS_MISSING',
    'redis-server was not found on PATH: install it (Debian/Ubuntu: apt-get install -y redis-server) or set SPIRT_REDIS_SERVER');
}

/** Listens on `port` (0: the kernel picks) of 127.0.0.1 and closes again: the port, or null when it is taken. */
function tryPort(port: number): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', (e: NodeJS.ErrnoException) => (e.code === 'EADDRINUSE' || e.code === 'EACCES' ? resolve(null) : reject(e)));
    srv.listen(port, '127.0.0.1', () => {
      const { port: bound } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(bound));
    });
  });
}

/** The first port of the kernel's ephemeral range (Linux; 32768 where it cannot be read). */
function ephemeralLow(): number {
  try {
    const low = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 0 ? low : 32768;
  } catch {
    return 32768;
  }
}

const PORT_FLOOR = 20000;

/**
 * A free TCP port on 127.0.0.1 below the kernel's ephemeral range, as Redis's own test suite picks (21111 on).
 * A port of that range can be handed to any outgoing connection while its server is down: a client
 * reconnecting to a killed server can even connect to itself (TCP simultaneous open), and the restarted server
 * then finds its port taken. Falls back to a kernel-picked port when nothing below the range is free.
 */
export async function freePort(): Promise<number> {
  const high = ephemeralLow();
  for (let attempt = 0; high - PORT_FLOOR > 100 && attempt < 50; attempt++) {
    const port = await tryPort(PORT_FLOOR + Math.floor(Math.random() * (high - PORT_FLOOR)));
    if (port !== null) return port;
  }
  const port = await tryPort(0);
  if (port === null) throw new RedisLaunchError('ERR_PORT_IN_USE', 'no free TCP port on 127.0.0.1');
  return port;
}

/** The last lines of a log, from byte `from` on (what one launch wrote into a log that may hold earlier ones). */
function tail(file: string, lines = 15, from = 0): string {
  try {
    return fs.readFileSync(file).subarray(from).toString('utf8').trim().split('\n').slice(-lines).join('\n') || '(empty log)';
  } catch {
    return '(no log)';
  }
}

/** Wraps the server in valgrind when SPIRT_REDIS_WRAPPER=valgrind (npm run test:valgrind). */
function wrapperCommand(): string[] {
  const wrapper = process.env.SPIRT_REDIS_WRAPPER;
  if (!wrapper) return [];
  if (wrapper !== 'valgrind') throw new RedisLaunchError('ERR_WRAPPER', `unknown SPIRT_REDIS_WRAPPER=${wrapper} (valgrind)`);
  if (spawnSync('valgrind', ['--version']).status !== 0) {
    throw new RedisLaunchError('ERR_WRAPPER', 'valgrind is not installed (apt-get install -y valgrind)');
  }
  const suppressions = process.env.SPIRT_VALGRIND_SUPP ? [`--suppressions=${process.env.SPIRT_VALGRIND_SUPP}`] : [];
  return ['valgrind', '--leak-check=full', '--errors-for-leak-kinds=definite', '--error-exitcode=99',
    '--show-leak-kinds=definite', ...suppressions, '--log-file=%VALGRIND_LOG%'];
}

/** A TCP port redis-server can listen on, or an ArgumentError (not a RangeError from deep inside net). */
function checkPort(port: unknown): number {
  if (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535) {
    throw new ArgumentError('ERR_INVALID_PORT', `port must be an integer from 1 to 65535, got ${String(port)}`);
  }
  return port as number;
}

/** What startRedis settles before it creates anything. */
interface LaunchPlan {
  server: string;
  module?: string;
  wrap: string[];
  readyTimeoutMs: number;
}

export async function startRedis(options: StartRedisOptions = {}): Promise<RunningRedis> {
  // everything that can be refused is checked before anything is created
  const server = findRedisServer();
  const wrap = wrapperCommand();
  const plan: LaunchPlan = {
    server,
    ...((options.module ?? true) ? { module: modulePath() } : {}),
    wrap,
    readyTimeoutMs: options.readyTimeoutMs ?? (wrap.length ? 120_000 : 10_000),
  };
  if (!(plan.readyTimeoutMs > 0)) throw new ArgumentError('ERR_ARGUMENT', `readyTimeoutMs must be a positive number, got ${plan.readyTimeoutMs}`);
  if (options.unixSocket && options.tls) throw new ArgumentError('ERR_ARGUMENT', 'tls needs a TCP port: leave out unixSocket');
  if (options.unixSocket) return launch(plan, options, 0);
  if (options.port !== undefined) return launch(plan, options, checkPort(options.port));
  // someone else can take a free port between freePort() and the server's bind: then try another one
  for (let attempt = 1; ; attempt++) {
    try {
      return await launch(plan, options, await freePort());
    } catch (e) {
      if (!(e instanceof RedisLaunchError && e.code === 'ERR_PORT_IN_USE') || attempt === FREE_PORT_ATTEMPTS) throw e;
      if (options.dir === undefined && e.logFile) fs.rmSync(e.logFile, { force: true });
    }
  }
}

const FREE_PORT_ATTEMPTS = 3;

/** The launcher's own TLS client options, read before the server starts; unreadable files fail the launch. */
function probeTls(tls: TlsMaterial, dir: string, ownDir: boolean) {
  try {
    return { ca: fs.readFileSync(tls.caFile), cert: fs.readFileSync(tls.clientCertFile), key: fs.readFileSync(tls.clientKeyFile), servername: SERVER_NAME };
  } catch (e) {
    if (ownDir) fs.rmSync(dir, { recursive: true, force: true });
    throw new RedisLaunchError('ERR_TLS_SETUP', `cannot read the TLS material: ${(e as Error).message}`);
  }
}

async function launch({ server, module, wrap, readyTimeoutMs }: LaunchPlan, options: StartRedisOptions, port: number): Promise<RunningRedis> {
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? fs.mkdtempSync(path.join(options.tmpParent ?? os.tmpdir(), 'spirt-redis-'));
  // outside a temporary dir, so that it outlives a failed launch and the error can name it
  const logFile = ownDir ? `${dir}.log` : path.join(dir, 'redis.log');
  const socketPath = options.unixSocket ? path.join(dir, 'redis.sock') : undefined;
  const args = [
    '--port', options.tls ? '0' : String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
    '--logfile', logFile, '--daemonize', 'no', '--protected-mode', 'yes',
  ];
  if (socketPath) args.push('--unixsocket', socketPath, '--unixsocketperm', '700');
  if (module) args.push('--loadmodule', module);
  if (options.acl) {
    const aclFile = path.join(dir, 'users.acl');
    fs.writeFileSync(aclFile, aclFileText(options.acl.layout), { mode: 0o600 });
    args.push('--aclfile', aclFile);
  }
  const { tls } = options;
  if (tls) {
    args.push('--tls-port', String(port), '--tls-cert-file', tls.serverCertFile, '--tls-key-file', tls.serverKeyFile,
      '--tls-ca-cert-file', tls.caFile, '--tls-auth-clients', 'yes');
  }
  const auth = options.acl ? options.acl.layout.admin : options.auth;
  const target = socketPath ? { path: socketPath } : tls ? { port, tls: probeTls(tls, dir, ownDir) } : { port };
  if (options.enableDebug) args.push('--enable-debug-command', 'local');
  args.push(...(options.args ?? []));
  const command = [...wrap.map((a) => a.replace('%VALGRIND_LOG%', path.join(dir, 'valgrind.log'))), server, ...args];
  // the server's own output goes to its log too: it reports a bad option there before it opens the logfile
  const output = options.inheritOutput ? 'inherit' : fs.openSync(logFile, 'a');
  const logStart = fs.existsSync(logFile) ? fs.statSync(logFile).size : 0;
  const child: ChildProcess = spawn(command[0], command.slice(1), {
    env: options.env ?? process.env,
    stdio: ['ignore', output, output],
  });
  if (typeof output === 'number') fs.closeSync(output);
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code, signal) => {
      exitCode = code ?? (signal ? 128 : null);
      resolve(exitCode);
    });
    child.on('error', () => resolve((exitCode = -1)));
  });
  const removeDir = () => {
    if (ownDir) fs.rmSync(dir, { recursive: true, force: true });
  };
  /** Kills our child (if it still runs), removes the temporary dir and keeps the log for the error. */
  const fail = async (code: string, message: string): Promise<never> => {
    if (exitCode === undefined) {
      child.kill('SIGKILL');
      await exited;
    }
    removeDir();
    throw new RedisLaunchError(code, `${message} (log: ${logFile})\n${tail(logFile, 15, logStart)}`, logFile);
  };

  const where = socketPath ?? `127.0.0.1:${port}`;
  const deadline = Date.now() + readyTimeoutMs;
  let lastAnswer = 'nothing answered';
  // ready means: our own child answers (INFO server process_id is its pid) with the module loaded
  for (;;) {
    if (exitCode !== undefined) {
      if (/Address already in use/.test(tail(logFile, 15, logStart))) await fail('ERR_PORT_IN_USE', `port ${port} is already in use: pick another port, or leave it out for a free one`);
      await fail('ERR_REDIS_EXITED', `redis-server exited (code ${exitCode}) before it was ready`);
    }
    const id = await identifyServer(target, auth);
    if (id?.pid !== undefined && id.pid !== child.pid) {
      await fail('ERR_PORT_IN_USE', `port ${port} is already in use by another server (pid ${id.pid}): pick another port, or leave it out for a free one`);
    }
    if (id?.pid !== undefined && module && !id.modules.includes('spirt')) {
      await fail('ERR_MODULE_NOT_LOADED', `redis-server at ${where} is running without the spirt module (modules: ${id.modules.join(', ') || 'none'})`);
    }
    if (id?.pid !== undefined) break;
    if (id?.error) lastAnswer = `it answered '${id.error}'${/NOAUTH|WRONGPASS/.test(id.error) ? ' (pass options.auth)' : ''}`;
    if (Date.now() > deadline) {
      await fail('ERR_REDIS_TIMEOUT', `redis-server at ${where} was not ready within ${readyTimeoutMs} ms (${lastAnswer}); it was killed`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  if (options.acl) {
    const refused = await applyPeerUsers(target, options.acl.layout, options.acl.owner);
    if (refused) await fail('ERR_ACL', `redis-server at ${where} refused the peer users: ${refused}`);
  }
  const url = socketPath ? `unix://${socketPath}` : `${tls ? 'rediss' : 'redis'}://127.0.0.1:${port}`;
  let stopped: Promise<number | null> | undefined;
  return {
    url: options.acl ? urlWithCredentials(url, options.acl.layout.admin) : url,
    ...(socketPath ? { socketPath } : { host: '127.0.0.1', port }),
    dir,
    pid: child.pid!,
    logFile,
    stop() {
      stopped ??= (async () => {
        if (exitCode === undefined) {
          // our own child only, by its pid: SIGTERM is a clean SHUTDOWN, SIGKILL the bound on it
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), wrap.length ? 60_000 : 10_000);
          await exited;
          clearTimeout(timer);
        }
        if (wrap.length && exitCode !== 0) process.stderr.write(`valgrind report:\n${tail(path.join(dir, 'valgrind.log'), 60)}\n`);
        removeDir();
        if (ownDir) fs.rmSync(logFile, { force: true });
        return exitCode ?? null;
      })();
      return stopped;
    },
  };
}
