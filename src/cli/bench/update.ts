// `spirt bench update`
import { UPDATE_BENCH_DEFAULTS as D } from '../../bench/defaults';
import { ArgumentError } from '../../errors';
import { CliCommand, formatIntegerList as list, parseOptions } from '../command';
import { DATABASE_BENCH_OPTIONS, databaseBenchOptions } from './options';

export const updateBench: CliCommand = {
  name: 'update',
  summary: 'in-database vs client-side (native, plain JS) optimizer steps on parameters in Redis',
  help: `usage: spirt bench update [options]

Times one optimizer step on parameters, a gradient and optimizer state that already sit in Redis: in the
database (TENSOR.SGD with momentum, TENSOR.ADAM as AdamW), on the client with spirt's native kernel (fetch
all, update, write parameters and state back) and on the client with a plain TypeScript loop (what a function
without spirt's addon does). Checks that every way leaves the same bytes, prints a table and writes update.json
(with the spirt version and SIMD path) and update.svg.

options:
  --params LIST       parameter counts (default ${list(D.params)}: MobileNetV3-small, ResNet-18, ResNet-50)
  --optimizer LIST    some of sgd,adam (default ${D.optimizers.join(',')})
  --client NAME       ioredis or redis (@redis/client) (default ioredis)
  --reps N            timed steps after a warm-up step; the median is reported (default ${D.reps})
  --url URL           an existing Redis with the module (default: a private embedded one)
  --out DIR           where the JSON and SVG go (default ./${D.outDir}, in the current directory)
  -h, --help          this help

Exits with status 1 when a client-side way leaves other bytes than the database.
`,
  async run(argv) {
    const args = parseOptions(this, argv, { ...DATABASE_BENCH_OPTIONS, optimizer: { type: 'string' } });
    if (!args) return 0;
    const o = args.values;
    const common = databaseBenchOptions(o);
    const optimizers = o.optimizer?.split(',').map((s) => {
      const known = D.optimizers.find((k) => k === s);
      if (!known) throw new ArgumentError('ERR_ARGUMENT', `--optimizer: unknown '${s}' (${D.optimizers.join(', ')})`);
      return known;
    });
    // the benchmark (and with it the native addon) loads only now
    const { runUpdateBench, formatUpdateTable } = await import('../../bench/update');
    const { environmentLine, timeSaved } = await import('../../bench/common');
    const result = await runUpdateBench({ ...common, ...(optimizers ? { optimizers } : {}) });
    process.stdout.write(`\n${environmentLine(result)}\n\n${formatUpdateTable(result)}\n\n`);
    for (const h of result.headlines) {
      process.stdout.write(`${(h.params / 1e6).toFixed(2)}M params, ${h.optimizer}: in-db ${h.inDbMs.toFixed(1)} ms vs client-native ` +
        `${h.clientNativeMs.toFixed(1)} ms = ${timeSaved(h.reductionPct)}` +
        `${h.targetMet === undefined ? '' : ` (target 95%: ${h.targetMet ? 'met' : 'MISSED'})`}; ` +
        `vs client-js ${h.clientJsMs.toFixed(1)} ms = ${timeSaved(h.reductionVsJsPct)}\n`);
    }
    process.stdout.write(result.allIdentical
      ? `every strategy left the parameters and optimizer state bit-identical to in-db's after ${result.steps} steps\n`
      : 'a client-side strategy left other parameters or state than in-db (see the table)\n');
    process.stdout.write(`written: ${result.files.json}, ${result.files.svg}\n`);
    return result.allIdentical ? 0 : 1;
  },
};
