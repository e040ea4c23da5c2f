// `npx spirt <command>`: the package's command line.
import { SpirtError } from './errors';
import { startRedis } from './redis/launcher';
import { modulePath } from './redis/modulePath';

const USAGE = `usage: spirt <command>

commands:
  module-path                 print the absolute path of the built Redis module
  redis [--port N] [--unix] [--no-module]
                              run a private redis-server with the module loaded, in the foreground
`;

export interface ParsedArgs {
  positional: string[];
  flags: Map<string, string | true>;
}

/** --name value / --name=value / --flag; a flag followed by another flag (or nothing) is boolean. */
export function parseArgs(argv: readonly string[]): ParsedArgs {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    if (eq > 0) flags.set(a.slice(2, eq), a.slice(eq + 1));
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) flags.set(a.slice(2), argv[++i]);
    else flags.set(a.slice(2), true);
  }
  return { positional, flags };
}

async function runRedis(args: ParsedArgs): Promise<void> {
  const port = args.flags.get('port');
  // listen for Ctrl-C before starting anything, so no signal can arrive unhandled
  const interrupted = new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  const redis = await startRedis({
    module: !args.flags.has('no-module'),
    unixSocket: args.flags.has('unix'),
    ...(typeof port === 'string' ? { port: Number(port) } : {}),
  });
  process.stdout.write(`redis-server ready at ${redis.url} (pid ${redis.pid}, log ${redis.logFile}); Ctrl-C stops it\n`);
  await interrupted;
  await redis.stop();
}

export async function main(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv);
  const [command] = args.positional;
  try {
    switch (command) {
      case 'module-path':
        process.stdout.write(`${modulePath()}\n`);
        return 0;
      case 'redis':
        await runRedis(args);
        return 0;
      case undefined:
      case 'help':
        process.stdout.write(USAGE);
        return command ? 0 : 1;
      default:
        process.stderr.write(`spirt: unknown command '${command}'\n${USAGE}`);
        return 1;
    }
  } catch (e) {
    if (e instanceof SpirtError) {
      process.stderr.write(`spirt: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}
