// An AWS Lambda layer for spirt: a zip with nodejs/node_modules/spirt (compiled JavaScript, ESM wrappers, the
// prebuilt binaries of one architecture) and spirt's production dependencies, so that handlers on the
// nodejs20.x / nodejs22.x runtimes `require('spirt')` and `require('spirt/functions')` from /opt/nodejs/node_modules.
import fs from 'node:fs';
import path from 'node:path';
import { ArgumentError, SpirtError } from '../errors';
import { packageRoot } from '../paths';
import { prebuildProblem } from './prebuild';
import { ZipEntry, writeZip } from './zip';

export const LAYER_ARCHES = ['x64', 'arm64'] as const;
export type LayerArch = (typeof LAYER_ARCHES)[number];

/**
 * Dependencies a Lambda does not need: cmake-js and the Node-API headers compile the addon from source (the
 * layer carries prebuilt binaries); aws-local-stepfunctions runs the ASL state machine locally (on AWS, Step
 * Functions runs it), and with it comes the AWS SDK, which the Lambda runtime already has.
 */
const NOT_IN_LAYER = new Set(['cmake-js', 'node-addon-api', 'node-api-headers', 'aws-local-stepfunctions']);

/** The parts of the spirt package a layer holds (beside prebuilds/linux-<arch>/). */
const SPIRT_PARTS = ['package.json', 'bin', 'dist', 'esm', 'README.md', 'LICENSE'];

/** Lambda's glibc: the Node.js runtimes run on Amazon Linux 2023. */
const LAMBDA_GLIBC = '2.34';

export interface LayerOptions {
  arch: LayerArch;
  out: string;
  /** the spirt package to pack (default: this one) */
  root?: string;
}

export interface LayerResult {
  out: string;
  zippedBytes: number;
  unzippedBytes: number;
  files: number;
  /** the packages in nodejs/node_modules, spirt first */
  packages: string[];
}

interface PackageJson {
  name: string;
  version: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

function readPackage(dir: string): PackageJson {
  return JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as PackageJson;
}

/** `name`'s directory as Node resolves it from `from`: the nearest node_modules/name above it. */
function resolvePackageDir(name: string, from: string): string | null {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name);
    if (fs.existsSync(path.join(candidate, 'package.json'))) return fs.realpathSync(candidate);
    if (path.dirname(dir) === dir) return null;
  }
}

function addTree(entries: ZipEntry[], from: string, to: string, skip: (rel: string) => boolean, rel = ''): void {
  for (const d of fs.readdirSync(path.join(from, rel), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const r = rel ? `${rel}/${d.name}` : d.name;
    if (skip(r)) continue;
    const full = path.join(from, r);
    const stat = fs.statSync(full);
    if (stat.isDirectory()) addTree(entries, from, to, skip, r);
    else if (stat.isFile()) entries.push({ name: `${to}/${r}`, data: fs.readFileSync(full), mode: stat.mode & 0o111 ? 0o755 : 0o644 });
  }
}

/**
 * Writes the layer zip. Dependencies are laid out flat in nodejs/node_modules; a second version of a package
 * goes under its dependent's own node_modules, where Node finds it first.
 */
export function buildLayer(o: LayerOptions): LayerResult {
  if (!(LAYER_ARCHES as readonly string[]).includes(o.arch)) {
    throw new ArgumentError('ERR_ARGUMENT', `--arch: '${o.arch}' is not a Lambda architecture (x64 or arm64)`);
  }
  const root = o.root ?? packageRoot;
  const prebuilds = path.join(root, 'prebuilds', `linux-${o.arch}`);
  for (const file of ['spirt.node', 'spirt_redis.so']) {
    const problem = prebuildProblem(prebuilds, file, { platform: 'linux', arch: o.arch, glibc: LAMBDA_GLIBC });
    if (problem) {
      throw new SpirtError('ERR_LAYER_PREBUILD', `no usable linux-${o.arch} binaries for the layer: ${problem}. ` +
        `The npm package ships them; in a source checkout run 'npm run prebuilds' first`);
    }
  }

  const entries: ZipEntry[] = [];
  const base = 'nodejs/node_modules';
  const spirt = readPackage(root);
  for (const part of SPIRT_PARTS) {
    const full = path.join(root, part);
    if (!fs.existsSync(full)) continue;
    if (fs.statSync(full).isDirectory()) addTree(entries, full, `${base}/spirt/${part}`, (r) => r.endsWith('.map'));
    else entries.push({ name: `${base}/spirt/${part}`, data: fs.readFileSync(full), mode: 0o644 });
  }
  addTree(entries, prebuilds, `${base}/spirt/prebuilds/linux-${o.arch}`, () => false);

  // breadth first from spirt's dependencies, so the shallowest version of each package takes the flat slot
  const placed = new Map<string, string>(); // zip directory -> the package directory it holds
  const packages = [`spirt@${spirt.version}`];
  const queue: Array<{ name: string; from: string; dependentAt: string; optional: boolean }> = Object.keys(spirt.dependencies ?? {})
    .filter((n) => !NOT_IN_LAYER.has(n)).map((name) => ({ name, from: root, dependentAt: `${base}/spirt`, optional: false }));
  for (let next = queue.shift(); next; next = queue.shift()) {
    const dir = resolvePackageDir(next.name, next.from);
    if (!dir && next.optional) continue; // an optional dependency not installed for this platform
    if (!dir) {
      throw new SpirtError('ERR_LAYER_DEPENDENCY', `cannot find ${next.name} (needed by ${next.dependentAt}) from ${next.from}: install spirt's dependencies first (npm install --omit=dev)`);
    }
    const flat = `${base}/${next.name}`;
    let at = flat;
    if (placed.has(flat) && placed.get(flat) !== dir) at = `${next.dependentAt}/node_modules/${next.name}`;
    if (placed.get(at) === dir) continue;
    placed.set(at, dir);
    const pkg = readPackage(dir);
    packages.push(`${pkg.name}@${pkg.version}`);
    addTree(entries, dir, at, (r) => r === 'node_modules' || r.endsWith('/node_modules') || r.endsWith('.map'));
    for (const name of Object.keys(pkg.dependencies ?? {})) queue.push({ name, from: dir, dependentAt: at, optional: false });
    for (const name of Object.keys(pkg.optionalDependencies ?? {})) queue.push({ name, from: dir, dependentAt: at, optional: true });
  }

  fs.mkdirSync(path.dirname(path.resolve(o.out)), { recursive: true });
  const zippedBytes = writeZip(o.out, entries);
  return {
    out: path.resolve(o.out),
    zippedBytes,
    unzippedBytes: entries.reduce((n, e) => n + e.data.length, 0),
    files: entries.length,
    packages,
  };
}
