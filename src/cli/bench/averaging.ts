// `spirt bench averaging`
import { AVERAGING_BENCH_DEFAULTS as D } from '../../bench/defaults';
import { ArgumentError } from '../../errors';
import { CliCommand, formatIntegerList as list, parseOptions, positiveIntegerList } from '../command';
import { DATABASE_BENCH_OPTIONS, databaseBenchOptions } from './options';

export const averagingBench: CliCommand = {
  name: 'averaging',
  summary: "in-database vs client-side vs Lua averaging of N peers' gradients",
  help: `usage: spirt bench averaging [options]

Times averaging N peers' gradients that already sit in Redis: in the database (TENSOR.AVG), on the client
(fetch all, native mean, write back) and with the original SPIRT Lua script over JSON lists. Prints a table
and writes averaging.json (with the spirt version and SIMD path) and averaging.svg.

options:
  --params LIST       parameter counts (default ${list(D.params)})
  --peers LIST        peer counts (default ${list(D.peers)})
  --client NAME       ioredis or redis (@redis/client) (default ioredis)
  --strategies LIST   some of in-db,client,lua (default all)
  --reps N            timed runs after a warm-up; the median is reported (default ${D.reps})
  --url URL           an existing Redis with the module (default: a private embedded one)
  --out DIR           where the JSON and SVG go (default ./${D.outDir}, in the current directory)
  -h, --help          this help
`,
  async run(argv) {
    const args = parseOptions(this, argv, { ...DATABASE_BENCH_OPTIONS, peers: { type: 'string' }, strategies: { type: 'string' } });
    if (!args) return 0;
    const o = args.values;
    const common = databaseBenchOptions(o);
    const peers = positiveIntegerList(o.peers, 'peers');
    // the benchmark (and with it the native addon) loads only now
    const { AVERAGING_STRATEGIES } = await import('../../store/averaging');
    const strategies = o.strategies?.split(',').map((s) => {
      const known = AVERAGING_STRATEGIES.find((k) => k === s);
      if (!known) throw new ArgumentError('ERR_ARGUMENT', `--strategies: unknown '${s}' (${AVERAGING_STRATEGIES.join(', ')})`);
      return known;
    });
    const { runAveragingBench, formatAveragingTable } = await import('../../bench/averaging');
    const { environmentLine, timeSaved } = await import('../../bench/common');
    const result = await runAveragingBench({ ...common, ...(strategies ? { strategies } : {}), ...(peers ? { peers } : {}) });
    process.stdout.write(`\n${environmentLine(result)}\n\n`);
    process.stdout.write(`${formatAveragingTable(result)}\n\n`);
    const h = result.headline;
    if (h) {
      process.stdout.write(`${(h.params / 1e6).toFixed(2)}M params, ${h.peers} peers: in-db ${h.inDbMs.toFixed(1)} ms vs client ${h.clientMs.toFixed(1)} ms = ` +
        `${timeSaved(h.reductionPct)}${h.targetMet === undefined ? '' : ` (target 95%: ${h.targetMet ? 'met' : 'MISSED'})`}` +
        `${h.speedupVsLua ? `; ${h.speedupVsLua.toFixed(0)}x faster than Lua (${h.luaMs!.toFixed(0)} ms)` : ''}\n`);
    }
    process.stdout.write(`written: ${result.files.json}, ${result.files.svg}\n`);
    return 0;
  },
};
