#!/usr/bin/env node
// `npm run prebuilds [-- x64 arm64]`: builds the addon and the Redis module for linux-x64 and linux-arm64 into
// prebuilds/linux-<arch>/ with a manifest.json (sha256 of each file, the glibc they need), the binaries that
// `npm pack` ships and the install script uses. The host's architecture builds natively; the other is
// cross-compiled with Debian's toolchain (g++-aarch64-linux-gnu on x86-64, packaging/linux-<arch>.cmake).
// Incremental: cmake keeps its build trees in build-prebuilds/. Fails if a binary needs a glibc or libstdc++
// newer than AWS Lambda's Node.js runtimes have (Amazon Linux 2023: GLIBC_2.34, GLIBCXX_3.4.29).
'use strict';
const { spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const FILES = ['spirt.node', 'spirt_redis.so'];
/** the highest symbol version of each kind that the Lambda runtimes provide */
const LIMITS = { GLIBC: '2.34', GLIBCXX: '3.4.29', CXXABI: '1.3.13', GCC: '7.0.0' };
const HOST = { x64: 'x64', arm64: 'arm64' }[process.arch];
const TRIPLE = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' };

function compareVersions(a, b) {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] || 0) !== (y[i] || 0)) return (x[i] || 0) - (y[i] || 0);
  return 0;
}

function run(cmd, args, what) {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error || r.status !== 0) {
    const output = `${r.stdout || ''}${r.stderr || ''}`.split('\n').slice(-30).join('\n');
    throw new Error(`prebuild: ${what} failed (${cmd} ${args.join(' ')}): ${r.error ? r.error.message : `exit ${r.status}`}\n${output}`);
  }
  return r.stdout;
}

/** The highest version of each symbol-version kind (GLIBC, GLIBCXX, ...) that `file` needs, from objdump -T. */
function symbolVersions(file) {
  const highest = {};
  for (const [, kind, version] of run('objdump', ['-T', file], `objdump of ${file}`).matchAll(/\b(GLIBC|GLIBCXX|CXXABI|GCC)_([0-9.]+)/g)) {
    if (!highest[kind] || compareVersions(version, highest[kind]) > 0) highest[kind] = version;
  }
  return highest;
}

function build(arch) {
  if (!TRIPLE[arch]) throw new Error(`prebuild: unknown architecture '${arch}' (x64 or arm64)`);
  if (!HOST) throw new Error(`prebuild: builds on linux x64 or arm64 hosts, not ${process.platform}-${process.arch}`);
  const out = path.join('build-prebuilds', `linux-${arch}`);
  const args = [require.resolve('cmake-js/bin/cmake-js'), 'compile', '--out', out];
  const cross = arch !== HOST;
  if (cross) args.push(`--CDCMAKE_TOOLCHAIN_FILE=${path.join(root, 'packaging', `linux-${arch}.cmake`)}`);
  const started = Date.now();
  run(process.execPath, args, `the ${cross ? 'cross-' : ''}build for linux-${arch}` +
    (cross ? ` (needs ${TRIPLE[arch]}-g++: apt-get install g++-${TRIPLE[arch].replace(/_/g, '-')} libc6-dev-${arch}-cross)` : ''));

  const dest = path.join(root, 'prebuilds', `linux-${arch}`);
  fs.rmSync(dest, { recursive: true, force: true });
  fs.mkdirSync(dest, { recursive: true });
  const manifest = { platform: 'linux', arch, glibc: '0', files: {} };
  for (const file of FILES) {
    const target = path.join(dest, file);
    fs.copyFileSync(path.join(root, out, 'Release', file), target);
    run(cross ? `${TRIPLE[arch]}-strip` : 'strip', ['--strip-unneeded', target], `strip of ${file}`);
    fs.chmodSync(target, 0o755);
    const versions = symbolVersions(target);
    for (const [kind, version] of Object.entries(versions)) {
      if (compareVersions(version, LIMITS[kind]) > 0) {
        throw new Error(`prebuild: ${target} needs ${kind}_${version}, above the ${kind}_${LIMITS[kind]} of AWS Lambda's Node.js runtimes`);
      }
    }
    if (versions.GLIBC && compareVersions(versions.GLIBC, manifest.glibc) > 0) manifest.glibc = versions.GLIBC;
    const bytes = fs.readFileSync(target);
    manifest.files[file] = { sha256: crypto.createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length };
  }
  fs.writeFileSync(path.join(dest, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  const sizes = FILES.map((f) => `${f} ${(manifest.files[f].bytes / 1024).toFixed(0)} kB`).join(', ');
  console.log(`prebuild: prebuilds/linux-${arch}/ (${sizes}; glibc >= ${manifest.glibc}) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

try {
  const arches = process.argv.slice(2);
  for (const arch of arches.length > 0 ? arches : ['x64', 'arm64']) build(arch);
} catch (e) {
  console.error(e.message);
  process.exit(1);
}
