// `spirt train`
import { ArgumentError } from '../errors';
import fs from 'node:fs';
import { CliCommand, numberOption, parseOptions } from './command';
import { TRAINING_HELP, TRAINING_OPTIONS, trainingOptions } from './peerOptions';

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

export const trainCommand: CliCommand = {
  name: 'train',
  summary: 'train on Fashion-MNIST peer-to-peer (--peers N: N peers with private databases) or --local',
  help: `usage: spirt train [--peers N | --redis URL1,URL2,...] [options]
       spirt train --local [--workers K] [options]

Peer-to-peer: starts N private redis-servers with the spirt module (or uses --redis's databases), and N peer
processes that train one model together with no central server: each step, every peer's K gradient
functions compute minibatch gradients into its database, the peers exchange and aggregate them in the
databases and apply SGD there; one ASL state machine execution per epoch and peer. Shows progress, the test
accuracy and the time per phase of every epoch, then stops everything (also on Ctrl-C).

--local trains in this process instead (K minibatches in parallel, no Redis).

options:
  --peers N             peers to start (default 4)
  --redis LIST          use these databases (comma-separated URLs, credentials allowed) instead
  --json FILE           write the summary: per-epoch accuracy and timing, per-step phases, bytes sent
                        per peer, each peer's final state sha256
  --respawn             restart a peer (and its server, from its append-only file) that dies; it rejoins
  --appendfsync P       always, everysec (default) or no: the started servers' AOF policy
  --tls                 the started servers speak TLS only (a per-run CA; peers present certificates)
  --insecure            the started servers without ACL users, gradients unsigned (by default each
                        peer has its own ACL user and Ed25519 identity, and every gradient that crosses
                        peers is signed and verified by the receiving module)
${TRAINING_HELP}  --local               train in this process instead; --workers K parallel minibatches
  -h, --help            this help
`,
  async run(argv) {
    const args = parseOptions(this, argv, {
      local: { type: 'boolean' }, workers: { type: 'string' },
      peers: { type: 'string' }, redis: { type: 'string' }, json: { type: 'string' }, respawn: { type: 'boolean' },
      appendfsync: { type: 'string' }, tls: { type: 'boolean' }, insecure: { type: 'boolean' }, ...TRAINING_OPTIONS,
    });
    if (!args) return 0;
    const o = args.values;
    if (o.local) return trainLocally(o);
    const peers = numberOption(o.peers, 'peers');
    if (peers !== undefined && (!Number.isInteger(peers) || peers < 1)) throw new ArgumentError('ERR_ARGUMENT', `--peers must be a whole number of at least 1, got ${o.peers}`);
    if (o.appendfsync !== undefined && !['always', 'everysec', 'no'].includes(o.appendfsync)) throw new ArgumentError('ERR_ARGUMENT', '--appendfsync must be always, everysec or no');
    const { trainPeers } = await import('../peer/launcher');
    const controller = new AbortController();
    const onSignal = () => controller.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const bar = progressBar(process.stderr);
    const training = trainingOptions(o);
    const epochs = training.epochs ?? 3;
    try {
      const summary = await trainPeers({
        ...training, peers: peers ?? 4, redis: o.redis?.split(','), respawn: o.respawn, signal: controller.signal,
        tls: o.tls, secure: !o.insecure,
        appendfsync: o.appendfsync as 'always' | 'everysec' | 'no' | undefined,
        onRecord: (r) => {
          if (r.type === 'ready' && r.peer === 0) process.stdout.write(`peer-to-peer training: ${peers ?? o.redis?.split(',').length} peers x ${training.functions ?? 2} functions x batch ${training.batch ?? 64}, ${r.paramCount} parameters, ${r.stepsPerEpoch} steps per epoch\n`);
          if (r.type === 'step' && r.peer === Math.min(...r.members)) bar(`epoch ${r.epoch + 1}/${epochs}`, (r.stepInEpoch + 1) / r.stepsPerEpoch, `loss ${r.loss.toFixed(4)} view ${r.view}`);
          if (r.type === 'view' && r.view.number > 1 && r.peer === Math.min(...r.view.members)) process.stdout.write(`view ${r.view.number}: members ${r.view.members.join(', ')} from step ${r.view.startStep}\n`);
          if (r.type === 'epoch' && r.peer === 0) process.stdout.write(`epoch ${r.epoch + 1}: test accuracy ${(r.accuracy * 100).toFixed(2)}% (${r.seconds.toFixed(1)} s)\n`);
        },
      });
      process.stdout.write('\nepoch  accuracy  seconds  per step (ms): compute  exchange  aggregate  update  wait  orchestration\n');
      for (const e of summary.epochs) {
        const p = e.phases;
        process.stdout.write(`${String(e.epoch + 1).padStart(5)}  ${(e.accuracy * 100).toFixed(2).padStart(7)}%  ${e.seconds.toFixed(1).padStart(7)}  ${p.compute.toFixed(1).padStart(22)}  ${p.exchange.toFixed(1).padStart(8)}  ${p.aggregate.toFixed(1).padStart(9)}  ${p.update.toFixed(1).padStart(6)}  ${p.wait.toFixed(1).padStart(4)}  ${p.orchestration.toFixed(1).padStart(13)}\n`);
      }
      for (const p of summary.peers) process.stdout.write(`peer ${p.peer}: step ${p.step}, view ${p.view}, sent ${(p.bytesSent / 1e6).toFixed(1)} MB, state sha256 ${p.digest.slice(0, 16)}...${p.respawns ? `, respawned ${p.respawns}x` : ''}\n`);
      process.stdout.write(summary.identical ? 'all peers hold identical parameters and optimizer state\n' : 'WARNING: the peers\' states differ\n');
      if (o.json) fs.writeFileSync(o.json, JSON.stringify(summary, null, 2));
      return summary.identical && summary.violations.length === 0 ? 0 : 1;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
};

async function trainLocally(o: { model?: string; epochs?: string; batch?: string; workers?: string; lr?: string; momentum?: string; seed?: string; data?: string }): Promise<number> {
    const modelName = o.model ?? 'mlp';
    if (modelName !== 'mlp' && modelName !== 'cnn') throw new ArgumentError('ERR_ARGUMENT', '--model must be mlp or cnn');
    const epochs = numberOption(o.epochs, 'epochs') ?? 3, batch = numberOption(o.batch, 'batch') ?? 64;
    const workers = numberOption(o.workers, 'workers') ?? 2;
    const lr = numberOption(o.lr, 'lr') ?? 0.05, momentum = numberOption(o.momentum, 'momentum') ?? 0.9;
    const seed = numberOption(o.seed, 'seed') ?? 1;
    // the data loader and the native engine load only now: the rest of the CLI runs without the addon
    const { loadFashionMnist } = await import('../data/fashionMnist');
    const { cnnSpec, mlpSpec } = await import('../model/spec');
    const { trainLocal } = await import('../train/local');
    const dir = o.data ? [o.data] : [];
    const train = loadFashionMnist('train', ...dir);
    const test = loadFashionMnist('test', ...dir);
    process.stdout.write(`training ${modelName} on Fashion-MNIST (${train.count} train / ${test.count} test), ` +
      `${epochs} epochs, batch ${batch} x ${workers} parallel minibatches\n`);
    const bar = progressBar(process.stderr);
    await trainLocal({
      spec: modelName === 'mlp' ? mlpSpec() : cnnSpec(), train, test, epochs, batch, workers, lr, momentum, seed,
      onStep: (epoch, fraction, loss) => bar(`epoch ${epoch}/${epochs}`, fraction, `loss ${loss.toFixed(4)}`),
      onEpoch: (r) => process.stdout.write(`epoch ${r.epoch}: train loss ${r.trainLoss.toFixed(4)}, test loss ${r.testLoss.toFixed(4)}, ` +
        `test accuracy ${(r.testAccuracy * 100).toFixed(2)}% (${r.seconds.toFixed(1)} s)\n`),
    });
    return 0;
}
