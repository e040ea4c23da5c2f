// `spirt train`
import { ArgumentError } from '../errors';
import { CliCommand, numberOption, parseOptions } from './command';

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
  summary: 'train on Fashion-MNIST (--local: on this machine); loss and test accuracy per epoch',
  help: `usage: spirt train --local [options]

Trains a model on Fashion-MNIST on this machine, computing the gradients of several minibatches in parallel,
and prints the loss and test accuracy of every epoch.

options:
  --local          train on this machine (required: peer-to-peer epochs are not built yet)
  --model NAME     mlp or cnn (default mlp)
  --epochs N       (default 3)
  --batch N        minibatch size (default 64)
  --workers N      minibatches computed in parallel per step (default 2)
  --lr X           learning rate (default 0.05)
  --momentum X     (default 0.9)
  --seed N         initialization and shuffling seed (default 1)
  --data DIR       the Fashion-MNIST IDX files (default $SPIRT_FASHION_MNIST_DIR or
                   /usr/share/datasets/fashion-mnist)
  -h, --help       this help
`,
  async run(argv) {
    const args = parseOptions(this, argv, {
      local: { type: 'boolean' },
      model: { type: 'string' },
      epochs: { type: 'string' },
      batch: { type: 'string' },
      workers: { type: 'string' },
      lr: { type: 'string' },
      momentum: { type: 'string' },
      seed: { type: 'string' },
      data: { type: 'string' },
    });
    if (!args) return 0;
    const o = args.values;
    if (!o.local) {
      throw new ArgumentError('ERR_ARGUMENT', 'only --local training (one machine) is available; peer-to-peer epochs are not built yet');
    }
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
  },
};
