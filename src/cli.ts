// `npx spirt <command>`: the package's command line.
import { ArgumentError, SpirtError } from './errors';
import { startRedis } from './redis/launcher';
import { modulePath } from './redis/modulePath';
import { AVERAGING_STRATEGIES, AveragingStrategy } from './store/averaging';

const USAGE = `usage: spirt <command>

commands:
  module-path                 print the absolute path of the built Redis module
  redis [--port N] [--unix] [--no-module]
                              run a private redis-server with the module loaded, in the foreground
  bench averaging [--params 2.5e6,8e6,11.69e6] [--peers 2,4,8,16] [--client ioredis|redis]
                  [--strategies in-db,client,lua] [--reps 3] [--url redis://...] [--out DIR]
                              in-database vs client-side vs Lua averaging of N peers' gradients;
                              prints a table, writes averaging.json and averaging.svg to DIR
                              (default bench/results), on a private embedded Redis unless --url
  train --local [--model mlp|cnn] [--epochs 3] [--batch 64] [--workers 2] [--lr 0.05] [--momentum 0.9]
                [--seed 1] [--data DIR]
                              train on Fashion-MNIST on this machine: loss and test accuracy per epoch
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

function numberList(value: string | true | undefined, name: string): number[] | undefined {
  if (value === undefined) return undefined;
  if (value === true) throw new ArgumentError('ERR_ARGUMENT', `--${name} needs a comma-separated list`);
  return value.split(',').map((v) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new ArgumentError('ERR_ARGUMENT', `--${name}: '${v}' is not a positive number`);
    return Math.round(n);
  });
}

function stringFlag(args: ParsedArgs, name: string): string | undefined {
  const v = args.flags.get(name);
  if (v === true) throw new ArgumentError('ERR_ARGUMENT', `--${name} needs a value`);
  return v;
}

async function runBench(args: ParsedArgs): Promise<number> {
  const [, what] = args.positional;
  if (what !== 'averaging') throw new ArgumentError('ERR_ARGUMENT', `unknown benchmark '${what ?? ''}' (averaging)`);
  const { runAveragingBench, formatAveragingTable } = await import('./bench/averaging');
  const client = stringFlag(args, 'client') ?? 'ioredis';
  if (client !== 'ioredis' && client !== 'redis') throw new ArgumentError('ERR_ARGUMENT', '--client must be ioredis or redis');
  const strategies = stringFlag(args, 'strategies')?.split(',') as AveragingStrategy[] | undefined;
  for (const s of strategies ?? []) {
    if (!AVERAGING_STRATEGIES.includes(s)) throw new ArgumentError('ERR_ARGUMENT', `--strategies: unknown '${s}' (${AVERAGING_STRATEGIES.join(', ')})`);
  }
  const reps = numberList(args.flags.get('reps'), 'reps')?.[0];
  const url = stringFlag(args, 'url');
  const outDir = stringFlag(args, 'out');
  const params = numberList(args.flags.get('params'), 'params');
  const peers = numberList(args.flags.get('peers'), 'peers');
  const result = await runAveragingBench({
    client, ...(strategies ? { strategies } : {}), ...(reps ? { reps } : {}), ...(url ? { url } : {}),
    ...(outDir ? { outDir } : {}), ...(params ? { params } : {}), ...(peers ? { peers } : {}),
  });
  const m = result.machine;
  process.stdout.write(`\n${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.platform}, Node ${m.node}, Redis ${m.redis}, client ${result.client}\n\n`);
  process.stdout.write(`${formatAveragingTable(result)}\n\n`);
  const h = result.headline;
  if (h) {
    process.stdout.write(`${(h.params / 1e6).toFixed(2)}M params, ${h.peers} peers: in-db ${h.inDbMs.toFixed(1)} ms vs client ${h.clientMs.toFixed(1)} ms = ` +
      `${h.reductionPct.toFixed(1)}% less time${h.targetMet === undefined ? '' : ` (target 95%: ${h.targetMet ? 'met' : 'MISSED'})`}` +
      `${h.speedupVsLua ? `; ${h.speedupVsLua.toFixed(0)}x faster than Lua (${h.luaMs!.toFixed(0)} ms)` : ''}\n`);
  }
  process.stdout.write(`written: ${result.files.json}, ${result.files.svg}\n`);
  return 0;
}

function progressBar(stream: NodeJS.WriteStream): (label: string, fraction: number, detail: string) => void {
  let lastQuarter = -1;
  return (label, fraction, detail) => {
    if (stream.isTTY) {
      const width = 30, filled = Math.round(fraction * width);
      stream.write(`\r${label} [${'='.repeat(filled)}${filled < width ? '>' : ''}${' '.repeat(Math.max(0, width - filled - 1))}] ` +
        `${(fraction * 100).toFixed(0).padStart(3)}% ${detail}   `);
      if (fraction >= 1) stream.write('\n');
    } else if (Math.floor(fraction * 4) > lastQuarter || fraction >= 1) {
      lastQuarter = Math.floor(fraction * 4);
      stream.write(`${label} ${(fraction * 100).toFixed(0)}% ${detail}\n`);
    }
    if (fraction >= 1) lastQuarter = -1;
  };
}

async function runTrain(args: ParsedArgs): Promise<number> {
  if (!args.flags.has('local')) {
    throw new ArgumentError('ERR_ARGUMENT', 'only --local training (one machine) is available; peer-to-peer epochs are not built yet');
  }
  const { loadFashionMnist } = await import('./data/fashionMnist');
  const { cnnSpec, mlpSpec } = await import('./model/spec');
  const { trainLocal } = await import('./train/local');
  const modelName = stringFlag(args, 'model') ?? 'mlp';
  if (modelName !== 'mlp' && modelName !== 'cnn') throw new ArgumentError('ERR_ARGUMENT', '--model must be mlp or cnn');
  const one = (name: string, fallback: number) => numberFlag(args, name) ?? fallback;
  const dir = stringFlag(args, 'data');
  const train = loadFashionMnist('train', ...(dir ? [dir] : []));
  const test = loadFashionMnist('test', ...(dir ? [dir] : []));
  const spec = modelName === 'mlp' ? mlpSpec() : cnnSpec();
  const epochs = one('epochs', 3), batch = one('batch', 64), workers = one('workers', 2);
  process.stdout.write(`training ${modelName} on Fashion-MNIST (${train.count} train / ${test.count} test), ` +
    `${epochs} epochs, batch ${batch} x ${workers} parallel minibatches\n`);
  const bar = progressBar(process.stderr);
  await trainLocal({
    spec, train, test, epochs, batch, workers, lr: one('lr', 0.05), momentum: one('momentum', 0.9), seed: one('seed', 1),
    onStep: (epoch, fraction, loss) => bar(`epoch ${epoch}/${epochs}`, fraction, `loss ${loss.toFixed(4)}`),
    onEpoch: (r) => process.stdout.write(`epoch ${r.epoch}: train loss ${r.trainLoss.toFixed(4)}, test loss ${r.testLoss.toFixed(4)}, ` +
      `test accuracy ${(r.testAccuracy * 100).toFixed(2)}% (${r.seconds.toFixed(1)} s)\n`),
  });
  return 0;
}

function numberFlag(args: ParsedArgs, name: string): number | undefined {
  const v = stringFlag(args, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new ArgumentError('ERR_ARGUMENT', `--${name}: '${v}' is not a number`);
  return n;
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

/** The flags each command understands: anything else is a typo worth an error, not a silent default. */
const FLAGS: Record<string, readonly string[]> = {
  'module-path': [],
  redis: ['port', 'unix', 'no-module'],
  bench: ['params', 'peers', 'client', 'strategies', 'reps', 'url', 'out'],
  train: ['local', 'model', 'epochs', 'batch', 'workers', 'lr', 'momentum', 'seed', 'data'],
};

export async function main(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv);
  const [command] = args.positional;
  try {
    const unknown = [...args.flags.keys()].filter((f) => command && FLAGS[command] && !FLAGS[command].includes(f));
    if (unknown.length) throw new ArgumentError('ERR_ARGUMENT', `unknown option --${unknown[0]} for '${command}' (see spirt help)`);
    switch (command) {
      case 'module-path':
        process.stdout.write(`${modulePath()}\n`);
        return 0;
      case 'redis':
        await runRedis(args);
        return 0;
      case 'bench':
        return await runBench(args);
      case 'train':
        return await runTrain(args);
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
