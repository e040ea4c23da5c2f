// The one locator of spirt's compiled artifacts, the Node addon and the Redis module, searched in one order
// (node-gyp-build's): an explicit environment override, then the local cmake-js build in build/Release (made
// by an install from source: no prebuild fitted, or SPIRT_BUILD_FROM_SOURCE=1), then
// prebuilds/<platform>-<arch>/ (shipped in the npm package). Every candidate's ELF header is checked against
// this process's architecture, and a prebuild against its manifest, before anything dlopens it.
import fs from 'node:fs';
import path from 'node:path';
import { NativeLoadError } from './errors';
import { PREBUILT_TARGETS, archMismatch, prebuildProblem } from './packaging/prebuild';
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
  /** the system's glibc version, null for none (musl); default this process's */
  glibc?: string | null;
}

function fromSource(root: string): string {
  return `build it from source with 'SPIRT_BUILD_FROM_SOURCE=1 npm rebuild spirt' (or 'npm run build:native' in ${root}); ` +
    'that needs cmake, make and g++ (on Debian: apt-get install cmake make g++)';
}

/**
 * The absolute path of the addon or the module, or a NativeLoadError naming the platform, every place
 * searched and how to build from source: ERR_ADDON_MISSING / ERR_MODULE_MISSING when nothing is there,
 * ERR_BINARY_INVALID when the only candidate is corrupted, for another architecture or for a newer glibc.
 */
export function locateBinary(kind: BinaryKind, o: LocateOptions = {}): string {
  const b = BINARIES[kind];
  const root = o.root ?? packageRoot;
  const platform = o.platform ?? process.platform;
  const arch = o.arch ?? process.arch;
  const override = (o.env ?? process.env)[b.env];
  if (override) {
    const file = path.resolve(override);
    if (!fs.existsSync(file)) {
      throw new NativeLoadError(b.code, `${b.env}=${override} does not exist: point it at a built ${b.file}, or unset it to use the package's own`);
    }
    const mismatch = archMismatch(file, arch);
    if (mismatch) throw new NativeLoadError('ERR_BINARY_INVALID', `${b.env}=${override}: ${file} ${mismatch}`);
    return file;
  }

  const built = path.join(root, 'build', 'Release', b.file);
  const prebuildDir = path.join(root, 'prebuilds', `${platform}-${arch}`);
  const prebuilt = path.join(prebuildDir, b.file);
  const rejected: string[] = [];
  if (fs.existsSync(built)) {
    const mismatch = archMismatch(built, arch);
    if (!mismatch) return built;
    rejected.push(`${built} ${mismatch}`);
  }
  if (fs.existsSync(prebuilt)) {
    const problem = prebuildProblem(prebuildDir, b.file, { platform, arch, glibc: o.glibc });
    if (!problem) return prebuilt;
    rejected.push(problem);
  }
  if (rejected.length > 0) {
    throw new NativeLoadError('ERR_BINARY_INVALID',
      `spirt ${b.what} (${b.file}) for ${platform}-${arch} cannot be loaded: ${rejected.join('; ')}. ` +
      `Reinstall spirt, or ${fromSource(root)}`);
  }
  const shipped = (PREBUILT_TARGETS as readonly string[]).includes(`${platform}-${arch}`)
    ? `the package has no prebuilds/${platform}-${arch}/ (a Lambda layer for another architecture? a source checkout that was not built?)`
    : `spirt ships prebuilt binaries for ${PREBUILT_TARGETS.join(' and ')} (glibc >= 2.34) only, not ${platform}-${arch}`;
  throw new NativeLoadError(b.code,
    `spirt ${b.what} (${b.file}) not found: ${shipped}; searched ${b.env} (not set), ${built}, ${prebuilt}. ` +
    `${fromSource(root)[0].toUpperCase()}${fromSource(root).slice(1)}, or set ${b.env} to a built ${b.file}`);
}
