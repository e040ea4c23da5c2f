// The one locator of spirt's compiled artifacts, the Node addon and the Redis module, searched in one order:
// an explicit environment override, then prebuilds/<platform>-<arch>/ (shipped in the npm package), then the
// local cmake-js build in build/Release.
import fs from 'node:fs';
import path from 'node:path';
import { NativeLoadError } from './errors';
import { packageRoot } from './paths';

export type BinaryKind = 'addon' | 'module';

const BINARIES = {
  addon: { file: 'spirt.node', env: 'SPIRT_ADDON_PATH', what: 'native addon', code: 'ERR_ADDON_MISSING' },
  module: { file: 'spirt_redis.so', env: 'SPIRT_MODULE_PATH', what: 'Redis module', code: 'ERR_MODULE_MISSING' },
} as const;

export interface LocateOptions {
  /** the package root holding prebuilds/ and build/ (default: this package's) */
  root?: string;
  /** where the override is read (default process.env) */
  env?: NodeJS.ProcessEnv;
  /** default process.platform and process.arch */
  platform?: string;
  arch?: string;
}

/** The absolute path of the addon or the module, or a NativeLoadError naming every place searched and the fix. */
export function locateBinary(kind: BinaryKind, o: LocateOptions = {}): string {
  const b = BINARIES[kind];
  const override = (o.env ?? process.env)[b.env];
  if (override) {
    const file = path.resolve(override);
    if (!fs.existsSync(file)) {
      throw new NativeLoadError(b.code, `${b.env}=${override} does not exist: point it at a built ${b.file}, or unset it to use the package's own`);
    }
    return file;
  }
  const root = o.root ?? packageRoot;
  const searched = [
    path.join(root, 'prebuilds', `${o.platform ?? process.platform}-${o.arch ?? process.arch}`, b.file),
    path.join(root, 'build', 'Release', b.file),
  ];
  const found = searched.find((f) => fs.existsSync(f));
  if (found) return found;
  throw new NativeLoadError(b.code,
    `spirt ${b.what} (${b.file}) not found; searched ${b.env} (not set), ${searched.join(', ')}. ` +
    `Build it with 'npm run build:native' in ${root} (needs cmake, make and g++: npm run setup installs them), ` +
    `or set ${b.env} to a built ${b.file}`);
}
