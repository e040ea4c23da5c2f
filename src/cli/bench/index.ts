// `spirt bench <name>`: one file per benchmark in this folder, listed here.
import { ArgumentError } from '../../errors';
import { CliCommand, commandList } from '../command';
import { averagingBench } from './averaging';
import { failureBench } from './failure';
import { robustBench } from './robust';
import { scalingBench } from './scaling';
import { updateBench } from './update';

const BENCHMARKS: readonly CliCommand[] = [averagingBench, updateBench, scalingBench, failureBench, robustBench];

const listing = `benchmarks (spirt bench <name> [options]; spirt bench <name> --help for its options):
${commandList(BENCHMARKS)}
`;

export const benchCommand: CliCommand = {
  name: 'bench',
  summary: `benchmarks: ${BENCHMARKS.map((b) => b.name).join(', ')} (spirt bench lists them)`,
  help: `usage: spirt bench <name> [options]\n\n${listing}`,
  async run(argv) {
    const [name, ...rest] = argv;
    if (name === undefined) {
      process.stdout.write(listing);
      return 0;
    }
    if (name === '--help' || name === '-h') {
      process.stdout.write(this.help);
      return 0;
    }
    const bench = BENCHMARKS.find((b) => b.name === name);
    if (!bench) throw new ArgumentError('ERR_ARGUMENT', `unknown benchmark '${name}'\n${listing}`);
    return bench.run(rest);
  },
};
