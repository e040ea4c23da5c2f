// `spirt bench scaling`
import { SCALING_BENCH_DEFAULTS as D } from '../../bench/defaults';
import { ArgumentError } from '../../errors';
import { CliCommand, formatIntegerList as list, numberOption, parseOptions, positiveIntegerList } from '../command';

export const scalingBench: CliCommand = {
  name: 'scaling',
  summary: 'peer-to-peer training for peers x functions x batch, spirt vs SPIRT-style sync, vs trainLocal',
  help: `usage: spirt bench scaling [options]

SPIRT's "varying batch sizes for different numbers of peers": for every peers x functions x batch it trains
peer-to-peer (private redis-servers with the module, one peer process each; the servers are reused and
flushed between runs) and records the time per epoch, the time per step by phase, bytes sent per peer and
the test accuracy after --epochs. In the same run: the loopback bandwidth; the exchange options at
--sync-params float32 (client relay, MIGRATE COPY, crossed MIGRATEs); spirt's per-step synchronisation at
that size with a synthetic gradient (sharded and all-to-all) against a SPIRT-faithful one (JSON lists, Lua
averaging and update, all-to-all pulls, a 100 ms polling barrier) on the same peers; train --peers against
trainLocal at the same effective batch; and a model fitted to these rates that predicts larger machines.
Prints tables and writes scaling.json and scaling.svg.

options:
  --peers LIST          peer counts (default ${list(D.peers)})
  --functions LIST      gradient functions per peer (default ${list(D.functions)})
  --batch LIST          minibatch per function (default ${list(D.batch)})
  --epochs N            epochs per run; accuracy is reported after them (default ${D.epochs})
  --model NAME          mlp or cnn (default mlp)
  --train-limit N       train on the first N Fashion-MNIST samples (default ${D.trainLimit}; 60000 = all)
  --test-limit N        evaluate on the first N test samples (default ${D.testLimit})
  --sync-params N       parameters of the synchronisation comparison (default ${list([D.syncParams])},
                        ResNet-18; 0 skips it)
  --sync-steps N        spirt steps at that size, the first a warm-up (default ${D.syncSteps})
  --baseline-steps N    the baseline's steps, the first a warm-up when there are more (default ${D.baselineSteps})
  --skip-local          do not compare with trainLocal
  --heartbeat-ms N      the peers' heartbeat interval (default 1000)
  --out DIR             where the JSON and SVG go (default ./${D.outDir}, in the current directory)
  -h, --help            this help
`,
  async run(argv) {
    const args = parseOptions(this, argv, {
      peers: { type: 'string' }, functions: { type: 'string' }, batch: { type: 'string' }, epochs: { type: 'string' },
      model: { type: 'string' }, 'train-limit': { type: 'string' }, 'test-limit': { type: 'string' },
      'sync-params': { type: 'string' }, 'sync-steps': { type: 'string' }, 'baseline-steps': { type: 'string' },
      'skip-local': { type: 'boolean' }, 'heartbeat-ms': { type: 'string' }, out: { type: 'string' },
    });
    if (!args) return 0;
    const o = args.values;
    if (o.model !== undefined && o.model !== 'mlp' && o.model !== 'cnn') throw new ArgumentError('ERR_ARGUMENT', `--model must be mlp or cnn, got '${o.model}'`);
    const syncParams = o['sync-params'] === undefined ? undefined : Math.round(numberOption(o['sync-params'], 'sync-params')!);
    const options = {
      peers: positiveIntegerList(o.peers, 'peers'), functions: positiveIntegerList(o.functions, 'functions'), batch: positiveIntegerList(o.batch, 'batch'),
      epochs: numberOption(o.epochs, 'epochs'), model: o.model as 'mlp' | 'cnn' | undefined,
      trainLimit: numberOption(o['train-limit'], 'train-limit'), testLimit: numberOption(o['test-limit'], 'test-limit'),
      syncParams, syncSteps: numberOption(o['sync-steps'], 'sync-steps'), baselineSteps: numberOption(o['baseline-steps'], 'baseline-steps'),
      local: !o['skip-local'], heartbeatMs: numberOption(o['heartbeat-ms'], 'heartbeat-ms'), outDir: o.out,
    };
    // the benchmark (and with it the native addon) loads only now
    const { runScalingBench, formatScalingReport } = await import('../../bench/scaling');
    const result = await runScalingBench(Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)));
    process.stdout.write(`\n${formatScalingReport(result)}\nwritten: ${result.files.json}, ${result.files.svg}\n`);
    return result.grid.every((g) => g.identical) && (result.sync ? result.sync.spirt.sharded.identical && result.sync.baseline.identical : true) ? 0 : 1;
  },
};
