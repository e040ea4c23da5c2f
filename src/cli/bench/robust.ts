// `spirt bench robust`
import { ROBUST_BENCH_DEFAULTS as D } from '../../bench/defaults';
import { ArgumentError } from '../../errors';
import type { Attack } from '../../peer/protocol';
import type { RuleName } from '../../bench/robust';
import { CliCommand, numberOption, parseOptions } from '../command';

/** A comma-separated list of whole numbers, 0 allowed (numbers of Byzantine peers). */
function countList(value: string | undefined, name: string): number[] | undefined {
  return value?.split(',').map((v) => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isInteger(n) || n < 0) throw new ArgumentError('ERR_ARGUMENT', `--${name}: '${v}' is not a whole number`);
    return n;
  });
}

export const robustBench: CliCommand = {
  name: 'robust',
  summary: 'accuracy of each aggregation rule when some peers are Byzantine (rule x attack x f)',
  help: `usage: spirt bench robust [options]

Trains the MLP on Fashion-MNIST with the peer-to-peer runtime once per cell of a grid: every rule, with no
attacker (f=0) and with f Byzantine peers (peers 0 .. f-1) running every attack. The attackers are insiders:
their crafted gradients are signed with their own identities and pass verification. Prints the accuracy
table and writes robust.json and a heat map, robust.svg. Each cell is a whole run (private redis-servers,
one process per peer): the default grid is 30 runs.

attacks: sign-flip (-4g), gaussian (N(0,1) per coordinate), scaled (100g), label-flip (labels y -> 9-y),
alie (a little is enough: mean - z std over the attacker's own minibatch gradients)
rules, configured for F = the largest f named: mean, median, trimmed (drops F at each end), krum (Multi-Krum
tolerating min(F, (n-3)/2), averaging the n-F best), cclip (centered clipping from zero, --tau, --cclip-iters)

options:
  --peers N           peers (default ${D.peers})
  --byzantine LIST    numbers of Byzantine peers, 0 for the clean runs (default ${D.byzantine.join(',')})
  --attack LIST       some of ${D.attacks.join(',')} (default all)
  --rule LIST         some of ${D.rules.join(',')} (default all)
  --epochs N          (default ${D.epochs})
  --batch N           minibatch per gradient function (default ${D.batch})
  --functions K       gradient functions per peer per step (default ${D.functions}; alie needs 2 or more)
  --lr X              (default ${D.lr}); --momentum X (default ${D.momentum})
  --train-limit N     train on the first N samples (default ${D.trainLimit}); --test-limit N (default ${D.testLimit})
  --tau X             centered clipping radius (default ${D.tau}); --cclip-iters L (default ${D.cclipIterations})
  --heartbeat-ms N    the peers' heartbeat (default ${D.heartbeatMs})
  --seed N            (default ${D.seed})
  --data DIR          the Fashion-MNIST IDX files (default the runtime's)
  --out DIR           where the JSON and SVG go (default ./${D.outDir}, in the current directory)
  -h, --help          this help

Exits with status 1 when a run failed (its cell says why).
`,
  async run(argv) {
    const string = { type: 'string' } as const;
    const args = parseOptions(this, argv, {
      peers: string, byzantine: string, attack: string, rule: string, epochs: string, batch: string, functions: string, lr: string,
      momentum: string, 'train-limit': string, 'test-limit': string, tau: string, 'cclip-iters': string, 'heartbeat-ms': string,
      seed: string, data: string, out: string,
    });
    if (!args) return 0;
    const o = args.values;
    const n = (name: keyof typeof o) => numberOption(o[name] as string | undefined, name);
    // the benchmark (and with it the peer runtime) loads only now
    const { runRobustBench, formatRobustTable } = await import('../../bench/robust');
    const result = await runRobustBench({
      peers: n('peers'), byzantine: countList(o.byzantine, 'byzantine'),
      attacks: o.attack?.split(',') as Attack[] | undefined, rules: o.rule?.split(',') as RuleName[] | undefined,
      epochs: n('epochs'), batch: n('batch'), functions: n('functions'), lr: n('lr'), momentum: n('momentum'),
      trainLimit: n('train-limit'), testLimit: n('test-limit'), tau: n('tau'), cclipIterations: n('cclip-iters'),
      heartbeatMs: n('heartbeat-ms'), seed: n('seed'), data: o.data, outDir: o.out,
    });
    process.stdout.write(`\n${formatRobustTable(result)}\n\n`);
    if (result.cleanAccuracy !== null) process.stdout.write(`clean accuracy (mean, f=0): ${(result.cleanAccuracy * 100).toFixed(1)}%\n`);
    for (const h of result.headlines) {
      const points = (d: number | null) => (d === null ? 'n/a' : `${d.toFixed(1)} points`);
      process.stdout.write(`${h.attack} f=${h.f}: best robust rule ${h.bestRule ?? 'none'} ` +
        `${h.bestAccuracy === null ? '' : `${(h.bestAccuracy * 100).toFixed(1)}% `}(${points(h.bestDropPoints)} below clean` +
        `${h.withinTwoPoints === null ? '' : h.withinTwoPoints ? ', within 2' : ', NOT within 2'}); mean ${points(h.meanDropPoints)} below clean\n`);
    }
    process.stdout.write(`written: ${result.files.json}, ${result.files.svg}\n`);
    return result.cells.some((c) => c.accuracy === null) ? 1 : 0;
  },
};
