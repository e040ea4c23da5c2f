// Starts a private redis-server (optionally with the spirt module) for tests, benchmarks and the CLI.
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { RedisLaunchError } from '../errors';
import { modulePath } from './modulePath';

export interface StartRedisOptions {
  /** load the spirt module (default true) */
  module?: boolean;
  /** listen on a unix socket instead of a free TCP port on 127.0.0.1 */
  unixSocket?: boolean;
  /** a fixed TCP port instead of a free one */
  port?: number;
  /** allow DEBUG (RELOAD, DIGEST-VALUE) from local connections */
  enableDebug?: boolean;
  /** more redis-server arguments, e.g. ['--appendonly', 'yes'] */
  args?: string[];
  /** data directory (default: a new temporary one, removed by stop()) */
  dir?: string;
  /** environment for the server (default process.env); SPIRT_SIMD here picks the module's kernels */
  env?: NodeJS.ProcessEnv;
  /** how long to wait for the server to answer PING (default 10 s, 120 s under valgrind) */
  readyTimeoutMs?: number;
  /** forward the server's log to this process's stdout */
  inheritOutput?: boolean;
}

export interface RunningRedis {
  /** redis://127.0.0.1:PORT or unix:///path/to/socket */
  readonly url: string;
  readonly host?: string;
  readonly port?: number;
  readonly socketPath?: string;
  readonly dir: string;
  readonly pid: number;
  /** the server's log file */
  readonly logFile: string;
  /** SHUTDOWN NOSAVE, wait for exit, remove the temporary directory; resolves to the exit code */
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

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** One PING over a raw connection: true when the server answers PONG. */
function ping(target: { port?: number; path?: string }): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = target.path ? net.connect(target.path) : net.connect(target.port!, '127.0.0.1');
    let reply = '';
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.on('error', () => done(false));
    sock.on('connect', () => sock.write('*1\r\n$4\r\nPING\r\n'));
    sock.on('data', (d) => {
      reply += d.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

function sendShutdown(target: { port?: number; path?: string }): Promise<void> {
  return new Promise((resolve) => {
    const sock = target.path ? net.connect(target.path) : net.connect(target.port!, '127.0.0.1');
    sock.on('error', () => resolve());
    sock.on('close', () => resolve());
    sock.on('connect', () => sock.write('*2\r\n$8\r\nSHUTDOWN\r\n$6\r\nNOSAVE\r\n'));
  });
}

function tail(file: string, lines = 15): string {
  try {
    return fs.readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join('\n');
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

export async function startRedis(options: StartRedisOptions = {}): Promise<RunningRedis> {
  const server = findRedisServer();
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'spirt-redis-'));
  const logFile = path.join(dir, 'redis.log');
  const socketPath = options.unixSocket ? path.join(dir, 'redis.sock') : undefined;
  const port = socketPath ? 0 : options.port ?? (await freePort());
  const args = [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
    '--logfile', logFile, '--daemonize', 'no', '--protected-mode', 'yes',
  ];
  if (socketPath) args.push('--unixsocket', socketPath, '--unixsocketperm', '700');
  if (options.module ?? true) args.push('--loadmodule', modulePath());
  if (options.enableDebug) args.push('--enable-debug-command', 'local');
  args.push(...(options.args ?? []));
  const wrap = wrapperCommand().map((a) => a.replace('%VALGRIND_LOG%', path.join(dir, 'valgrind.log')));
  const [cmd, ...cmdArgs] = wrap.length ? [...wrap, server, ...args] : [server, ...args];
  const child: ChildProcess = spawn(cmd, cmdArgs, {
    env: options.env ?? process.env,
    stdio: options.inheritOutput ? 'inherit' : 'ignore',
  });
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code, signal) => {
      exitCode = code ?? (signal ? 128 : null);
      resolve(exitCode);
    });
    child.on('error', () => resolve((exitCode = -1)));
  });
  const target = socketPath ? { path: socketPath } : { port };
  const deadline = Date.now() + (options.readyTimeoutMs ?? (wrap.length ? 120_000 : 10_000));
  const cleanup = () => {
    if (ownDir) fs.rmSync(dir, { recursive: true, force: true });
  };
  for (;;) {
    if (exitCode !== undefined) {
      const log = tail(logFile);
      cleanup();
      throw new RedisLaunchError('ERR_REDIS_EXITED', `redis-server exited (code ${exitCode}) before it was ready:\n${log}`);
    }
    if (await ping(target)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      await exited;
      const log = tail(logFile);
      cleanup();
      throw new RedisLaunchError('ERR_REDIS_TIMEOUT', `redis-server did not answer PING in time:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  let stopped: Promise<number | null> | undefined;
  return {
    url: socketPath ? `unix://${socketPath}` : `redis://127.0.0.1:${port}`,
    ...(socketPath ? { socketPath } : { host: '127.0.0.1', port }),
    dir,
    pid: child.pid!,
    logFile,
    stop() {
      stopped ??= (async () => {
        if (exitCode === undefined) {
          await sendShutdown(target);
          const timer = setTimeout(() => child.kill('SIGKILL'), wrap.length ? 60_000 : 10_000);
          await exited;
          clearTimeout(timer);
        }
        if (wrap.length && exitCode !== 0) process.stderr.write(`valgrind report:\n${tail(path.join(dir, 'valgrind.log'), 60)}\n`);
        cleanup();
        return exitCode ?? null;
      })();
      return stopped;
    },
  };
}
