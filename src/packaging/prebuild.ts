// What a prebuilt binary must be to load here, checked before dlopen so that a corrupted, truncated or
// wrong-architecture file, or a system too old for it, gets a sentence instead of a bare dlopen error.
// prebuilds/<platform>-<arch>/manifest.json (written by packaging/prebuild.js) records each file's sha256 and the
// highest glibc symbol version the binaries need. Used by src/binaries.ts and by the install script.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export interface PrebuildManifest {
  platform: string;
  arch: string;
  /** the highest GLIBC_ symbol version any of the files needs, e.g. "2.34" */
  glibc: string;
  files: Record<string, { sha256: string; bytes: number }>;
}

/** ELF e_machine of each architecture spirt ships binaries for. */
const ELF_MACHINE: Record<string, number> = { x64: 62, arm64: 183 };
const MACHINE_NAME: Record<number, string> = { 3: 'x86 (32-bit)', 40: 'arm (32-bit)', 62: 'x64', 183: 'arm64', 243: 'riscv64' };

/** The architecture an ELF file is built for ("x64", "arm64", ...), or why it is not a loadable ELF file. */
export function elfArch(file: string): { arch: string } | { problem: string } {
  const header = Buffer.alloc(20);
  const fd = fs.openSync(file, 'r');
  let read: number;
  try {
    read = fs.readSync(fd, header, 0, header.length, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (read < header.length || header.readUInt32BE(0) !== 0x7f454c46) return { problem: 'is not an ELF shared object (truncated or corrupted)' };
  if (header[5] !== 1) return { problem: 'is a big-endian ELF file' };
  const machine = header.readUInt16LE(18);
  return { arch: MACHINE_NAME[machine] ?? `ELF machine ${machine}` };
}

/** Why `file` cannot be loaded by a process of architecture `arch`, or null when its header fits. */
export function archMismatch(file: string, arch: string): string | null {
  const found = elfArch(file);
  if ('problem' in found) return found.problem;
  if (ELF_MACHINE[arch] === undefined || found.arch === arch) return null;
  return `is built for ${found.arch}, not for this ${arch} process`;
}

/** The glibc version this process runs on ("2.36"), or null on a libc without it (musl). */
export function runtimeGlibc(): string | null {
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  return report?.header?.glibcVersionRuntime ?? null;
}

function versionAtLeast(have: string, need: string): boolean {
  const a = have.split('.').map(Number);
  const b = need.split('.').map(Number);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  }
  return true;
}

export function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

export interface PrebuildTarget {
  platform: string;
  arch: string;
  /** the system's glibc version; null: none (musl); default: this process's */
  glibc?: string | null;
}

const verified = new Map<string, string>();

/**
 * Why prebuilds/<platform>-<arch>/<file> under `dir` cannot be used on `target`, or null when it can:
 * manifest present and for this platform and architecture, file's sha256 as recorded (not corrupted or
 * swapped), ELF header of this architecture, and the system's glibc at least the one the binaries need.
 */
export function prebuildProblem(dir: string, file: string, target: PrebuildTarget): string | null {
  const at = path.join(dir, file);
  if (!fs.existsSync(at)) return `${at} does not exist`;
  const manifestFile = path.join(dir, 'manifest.json');
  let manifest: PrebuildManifest;
  try {
    manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as PrebuildManifest;
  } catch (e) {
    return `its manifest ${manifestFile} is missing or unreadable (${(e as Error).message})`;
  }
  if (manifest.platform !== target.platform || manifest.arch !== target.arch) {
    return `${dir} holds binaries for ${manifest.platform}-${manifest.arch}, not ${target.platform}-${target.arch}`;
  }
  const recorded = manifest.files?.[file];
  if (!recorded) return `${manifestFile} does not list ${file}`;
  const stat = fs.statSync(at);
  const key = `${stat.size}:${stat.mtimeMs}`;
  if (verified.get(at) !== key) {
    const mismatch = archMismatch(at, target.arch);
    if (mismatch) return `${at} ${mismatch}`;
    const actual = sha256(at);
    if (actual !== recorded.sha256) {
      return `${at} is corrupted: its sha256 is ${actual}, the manifest says ${recorded.sha256}`;
    }
    verified.set(at, key);
  }
  const glibc = target.glibc === undefined ? runtimeGlibc() : target.glibc;
  if (target.platform === 'linux' && manifest.glibc) {
    if (glibc === null) return `the prebuilt binaries need glibc >= ${manifest.glibc} and this system has no glibc (musl?)`;
    if (!versionAtLeast(glibc, manifest.glibc)) return `the prebuilt binaries need glibc >= ${manifest.glibc} and this system has glibc ${glibc}`;
  }
  return null;
}

/** The platforms spirt ships prebuilt binaries for. */
export const PREBUILT_TARGETS = ['linux-x64', 'linux-arm64'] as const;
