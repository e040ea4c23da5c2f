// `spirt bench failure`
import { FAILURE_BENCH_DEFAULTS as D } from '../../bench/defaults';
import { CliCommand, numberOption, parseOptions } from '../command';

export const failureBench: CliCommand = {
  name: 'failure',
  summary: 'kill -9 one of N training peers, respawn it: detection and recovery timeline, SPIRT\'s recovery graph',
  help: `usage: spirt bench failure [options]

SPIRT's peer failure recovery graph, measured: trains peer-to-peer like spirt train --peers N --respawn (private
redis-servers with the module, one peer process each), kills one peer with SIGKILL at a random moment in the
middle of an epoch (up to one heartbeat interval after a step) and lets the launcher start a replacement that
copies the parameters and optimizer state from a survivor. From the peers' records it builds the timeline:
failure, detection (the first survivor starts a view change), the view without the peer, the replacement's
restart, admission and state copy, and the first steps back at full speed. Prints the phases and writes
failure.json and failure.svg (a lane per peer, time on x, steps as ticks, the marks across the lanes).

options:
  --peers N          peers (default ${D.peers})
  --kill ID          the peer to kill (default ${D.kill})
  --at-epoch N       the epoch it is killed in, counted from 1 (default ${D.atEpoch})
  --kill-at F        how far into that epoch, as a fraction of its steps (default ${D.killAt})
  --kill-server      kill its redis-server too (restarted from its append-only file)
  --epochs N         epochs of the run (default: --at-epoch + 1)
  --heartbeat-ms N   heartbeat interval; silent for 2.5 intervals = failed (default ${D.heartbeatMs})
  --functions N      gradient functions per peer (default ${D.functions})
  --batch N          minibatch per function (default ${D.batch})
  --train-limit N    train on the first N Fashion-MNIST samples (default: all 60000)
  --test-limit N     evaluate on the first N test samples (default ${D.testLimit})
  --factor X         a step within X times the pre-failure median step time is at full speed (default ${D.factor})
  --timeout-s N      stop the run and fail after N seconds (default ${D.timeoutS})
  --out DIR          where the JSON and SVG go (default ./${D.outDir}, in the current directory)
  -h, --help         this help

Exits with status 1 when the peers finished with different states, a step was applied twice or skipped, or the
replacement never rejoined (detection beyond 3 heartbeat intervals is reported as a missed goal).
`,
  async run(argv) {
    const args = parseOptions(this, argv, {
      peers: { type: 'string' }, kill: { type: 'string' }, 'at-epoch': { type: 'string' }, 'kill-at': { type: 'string' },
      'kill-server': { type: 'boolean' }, epochs: { type: 'string' }, 'heartbeat-ms': { type: 'string' },
      functions: { type: 'string' }, batch: { type: 'string' }, 'train-limit': { type: 'string' }, 'test-limit': { type: 'string' },
      factor: { type: 'string' }, 'timeout-s': { type: 'string' }, out: { type: 'string' },
    });
    if (!args) return 0;
    const o = args.values;
    const options = {
      peers: numberOption(o.peers, 'peers'), kill: numberOption(o.kill, 'kill'), atEpoch: numberOption(o['at-epoch'], 'at-epoch'),
      killAt: numberOption(o['kill-at'], 'kill-at'), killServer: o['kill-server'], epochs: numberOption(o.epochs, 'epochs'),
      heartbeatMs: numberOption(o['heartbeat-ms'], 'heartbeat-ms'), functions: numberOption(o.functions, 'functions'),
      batch: numberOption(o.batch, 'batch'), trainLimit: numberOption(o['train-limit'], 'train-limit'),
      testLimit: numberOption(o['test-limit'], 'test-limit'), factor: numberOption(o.factor, 'factor'),
      timeoutS: numberOption(o['timeout-s'], 'timeout-s'), outDir: o.out,
    };
    // the benchmark (and with it the peer runtime) loads only now
    const { runFailureBench, formatFailureReport } = await import('../../bench/failure');
    const result = await runFailureBench(Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)));
    process.stdout.write(`\n${formatFailureReport(result)}\nwritten: ${result.files.json}, ${result.files.svg}\n`);
    const ok = result.training.identical && result.training.violations.length === 0 && result.timeline.replacement !== null;
    return ok ? 0 : 1;
  },
};
