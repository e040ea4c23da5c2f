// `npx spirt <command>`: the package's command line. One file per command in this folder, listed in
// COMMANDS; each imports what is heavy (the benchmark, the native engine) only when it runs.
import { SpirtError } from '../errors';
import { aslCommand } from './asl';
import { spirtVersion } from '../version';
import { benchCommand } from './bench';
import { CliCommand, commandList } from './command';
import { layerCommand } from './layer';
import { peerCommand } from './peer';
import { modulePathCommand } from './modulePath';
import { redisCommand } from './redis';
import { trainCommand } from './train';

const COMMANDS: readonly CliCommand[] = [modulePathCommand, redisCommand, benchCommand, trainCommand, peerCommand, aslCommand, layerCommand];

const USAGE = `usage: spirt <command> [options]      (spirt <command> --help lists its options)

commands:
${commandList(COMMANDS)}

options:
  -h, --help    this help
  --version     print spirt's version
`;

export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  try {
    if (name === undefined) {
      process.stderr.write(USAGE);
      return 1;
    }
    if (name === '--help' || name === '-h' || (name === 'help' && rest.length === 0)) {
      process.stdout.write(USAGE);
      return 0;
    }
    if (name === '--version') {
      process.stdout.write(`${spirtVersion}\n`);
      return 0;
    }
    // `spirt help <command>` is `spirt <command> --help`
    const [commandName, commandArgs] = name === 'help' ? [rest[0], ['--help']] : [name, rest];
    const command = COMMANDS.find((c) => c.name === commandName);
    if (!command) {
      const what = commandName.startsWith('-') ? 'option' : 'command';
      process.stderr.write(`spirt: unknown ${what} '${commandName}'\n\n${USAGE}`);
      return 1;
    }
    return await command.run(commandArgs);
  } catch (e) {
    if (e instanceof SpirtError) {
      process.stderr.write(`spirt: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}
