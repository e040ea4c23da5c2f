// `spirt module-path`
import { modulePath } from '../redis/modulePath';
import { CliCommand, parseOptions } from './command';

export const modulePathCommand: CliCommand = {
  name: 'module-path',
  summary: 'print the absolute path of the Redis module (redis-server --loadmodule PATH)',
  help: `usage: spirt module-path

Prints the absolute path of the spirt Redis module, found as the addon is: SPIRT_MODULE_PATH, then
build/Release (a build from source), then prebuilds/<platform>-<arch>/. Load it with: redis-server --loadmodule "$(npx spirt module-path)"

options:
  -h, --help   this help
`,
  async run(argv) {
    if (!parseOptions(this, argv, {})) return 0;
    process.stdout.write(`${modulePath()}\n`);
    return 0;
  },
};
