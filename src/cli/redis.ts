// `spirt redis`
import { startRedis } from '../redis/launcher';
import { CliCommand, numberOption, parseOptions } from './command';

export const redisCommand: CliCommand = {
  name: 'redis',
  summary: 'run a private redis-server with the module loaded, in the foreground',
  help: `usage: spirt redis [--port N | --unix] [--no-module]

Runs a private redis-server on 127.0.0.1 (data in a temporary directory) with the spirt module loaded, until
Ctrl-C or SIGTERM, then stops it and removes the directory. A port that is taken is an error, never the other
server's address.

options:
  --port N      listen on this TCP port (default: a free one)
  --unix        listen on a unix socket in the temporary directory instead of TCP
  --no-module   without the spirt module
  -h, --help    this help
`,
  async run(argv) {
    const args = parseOptions(this, argv, {
      port: { type: 'string' },
      unix: { type: 'boolean' },
      'no-module': { type: 'boolean' },
    });
    if (!args) return 0;
    const port = numberOption(args.values.port, 'port');
    // listen for Ctrl-C before starting anything, so no signal can arrive unhandled
    const interrupted = new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    const redis = await startRedis({
      module: !args.values['no-module'],
      unixSocket: args.values.unix ?? false,
      ...(port === undefined ? {} : { port }),
    });
    process.stdout.write(`redis-server ready at ${redis.url} (pid ${redis.pid}, log ${redis.logFile}); Ctrl-C stops it\n`);
    await interrupted;
    await redis.stop();
    return 0;
  },
};
