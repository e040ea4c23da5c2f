// `spirt layer`
import { ArgumentError } from '../errors';
import { CliCommand, parseOptions } from './command';

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(2)} MB`;
}

export const layerCommand: CliCommand = {
  name: 'layer',
  summary: 'write an AWS Lambda layer zip: spirt, its dependencies and one architecture\'s binaries',
  help: `usage: spirt layer --arch x64|arm64 [--out FILE]

Writes a Lambda layer zip with the nodejs/node_modules/ layout: spirt (compiled JavaScript and the prebuilt
addon and Redis module for linux-<arch> only) and its production dependencies, without what only a build from
source or a local state-machine run needs. Handlers then require('spirt') and require('spirt/functions').
Prints the zipped and unzipped sizes (Lambda allows 50 MB zipped, 250 MB unzipped for a function and its layers).

options:
  --arch ARCH   x64 (Lambda's x86_64) or arm64 (Graviton)
  --out FILE    the zip to write (default spirt-layer-<arch>.zip)
  -h, --help    this help
`,
  async run(argv) {
    const parsed = parseOptions(this, argv, { arch: { type: 'string' }, out: { type: 'string' } });
    if (!parsed) return 0;
    const { arch, out } = parsed.values;
    if (arch === undefined) throw new ArgumentError('ERR_ARGUMENT', "--arch is required (x64 or arm64) for 'spirt layer'");
    const { buildLayer } = await import('../packaging/layer');
    const r = buildLayer({ arch: arch as 'x64' | 'arm64', out: out ?? `spirt-layer-${arch}.zip` });
    process.stdout.write(`${r.out}: ${megabytes(r.zippedBytes)} zipped, ${megabytes(r.unzippedBytes)} unzipped, ` +
      `${r.files} files\npackages: ${r.packages.join(' ')}\n`);
    return 0;
  },
};
