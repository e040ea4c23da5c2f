#!/usr/bin/env node
// spirt's npm install script. Uses the prebuilt binaries in prebuilds/<platform>-<arch>/ when they fit this
// system (manifest, sha256, architecture, glibc: dist/packaging/prebuild.js), and compiles the addon and the
// Redis module from source with cmake-js into build/Release otherwise: no prebuild fits, SPIRT_BUILD_FROM_SOURCE=1
// is set, or this is a source checkout (a git clone, where prebuilds/ may be stale).
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const target = `${process.platform}-${process.arch}`;

function whyNotPrebuilt() {
  if (process.env.SPIRT_BUILD_FROM_SOURCE === '1') return 'SPIRT_BUILD_FROM_SOURCE=1 is set';
  if (fs.existsSync(path.join(root, '.git'))) return 'a source checkout builds its own binaries';
  const dir = path.join(root, 'prebuilds', target);
  if (!fs.existsSync(dir)) return `no prebuilt binaries for ${target} (shipped: linux-x64, linux-arm64)`;
  const { prebuildProblem } = require(path.join(root, 'dist', 'packaging', 'prebuild.js'));
  for (const file of ['spirt.node', 'spirt_redis.so']) {
    const problem = prebuildProblem(dir, file, { platform: process.platform, arch: process.arch });
    if (problem) return problem;
  }
  return null;
}

function onPath(command) {
  return (process.env.PATH || '').split(path.delimiter).some((dir) => {
    try {
      fs.accessSync(path.join(dir, command), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

const reason = whyNotPrebuilt();
if (reason === null) {
  console.log(`spirt: using the prebuilt binaries in prebuilds/${target}/`);
  process.exit(0);
}
console.log(`spirt: building the addon and the Redis module from source: ${reason}`);
const missing = ['cmake', 'make'].filter((c) => !onPath(c));
if (!onPath('g++') && !onPath('c++')) missing.push('g++');
if (missing.length > 0) {
  console.error(`spirt: cannot build from source for ${target}: ${missing.join(', ')} not found on PATH. ` +
    'Install cmake, make and g++ (Debian/Ubuntu: apt-get install cmake make g++), then run npm rebuild spirt; ' +
    'or install on linux-x64 / linux-arm64 with glibc >= 2.34, where the prebuilt binaries load.');
  process.exit(1);
}
const r = spawnSync(process.execPath, [require.resolve('cmake-js/bin/cmake-js'), 'compile', '--out', 'build'], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
