#!/usr/bin/env node
// Runs the kernel and module tests once more for every SIMD path this CPU supports besides the default one,
// so each instruction-set file is checked against the reference (the default path ran in the main jest run).
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const addon = require(path.join(root, 'build', 'Release', 'spirt.node'));
const others = addon.simdAvailable.filter((p) => p !== addon.simdPath);
const suites = process.argv.slice(2).length ? process.argv.slice(2) : ['test/kernels.test.ts', 'test/model.test.ts', 'test/module'];
let failed = 0;
for (const simdPath of others) {
  console.log(`\n=== SPIRT_SIMD=${simdPath}: ${suites.join(' ')} ===`);
  const r = spawnSync(path.join(root, 'node_modules', '.bin', 'jest'), ['--runInBand', ...suites], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, SPIRT_SIMD: simdPath },
  });
  if (r.status !== 0) failed++;
}
console.log(`\nSIMD paths re-tested: ${others.join(', ') || 'none'}; ${failed ? `${failed} failed` : 'all passed'}`);
process.exit(failed ? 1 : 0);
