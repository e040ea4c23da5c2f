#!/usr/bin/env node
// Native SIMD kernels vs the plain TypeScript loops (src/reference.ts) on one ResNet-18 gradient
// (11.69M float32), side by side in one run with benchmark.js, plus the machine's memory bandwidth
// (bench/stream.c: copy and triad in C) measured in the same run. Prints a table and writes
// bench/results/kernels.json.  Usage: node bench/kernels.js [--n 11690000] [--quick]
'use strict';
const Benchmark = require('benchmark');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const k = require(path.join(root, 'dist', 'kernels'));
const ref = require(path.join(root, 'dist', 'reference'));

const argv = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : fallback;
};
const N = Number(flag('n', 11_690_000));
const quick = argv.includes('--quick');
const MB = 1e6;

function random(n, seed) {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a * 1664525 + 1013904223) >>> 0;
    out[i] = a / 2 ** 32 - 0.5;
  }
  return out;
}

const srcs = Array.from({ length: 8 }, (_, j) => random(N, j + 1));
const [x, y] = [random(N, 11), random(N, 12)];
const out = new Float32Array(N);
const h16 = k.toFloat16(x);
const q8 = k.quantizeInt8(x);
const velocity = new Float32Array(N);
const adam = { m: new Float32Array(N), v: new Float32Array(N) };
const residual = new Float32Array(N);
const topK = Math.floor(N / 100);
const f4 = N * 4;

// bytes each kernel must move at minimum (reads + writes), for GB/s
const cases = [
  { name: 'mean of 8 vectors', bytes: 9 * f4, native: () => k.mean(srcs, out), ts: () => ref.mean(srcs, out) },
  { name: 'weighted sum of 4', bytes: 5 * f4, native: () => k.weightedSum(srcs.slice(0, 4), [0.1, 0.2, 0.3, 0.4], out),
    ts: () => ref.weightedSum(srcs.slice(0, 4), [0.1, 0.2, 0.3, 0.4], out) },
  { name: 'axpy', bytes: 3 * f4, native: () => k.axpy(out, 1e-3, x), ts: () => ref.axpy(out, 1e-3, x) },
  { name: 'scale', bytes: 2 * f4, native: () => k.scale(x, 0.5, out), ts: () => ref.scale(x, 0.5, out) },
  { name: 'dot', bytes: 2 * f4, native: () => k.dot(x, y), ts: () => ref.dot(x, y) },
  { name: 'l2 norm', bytes: f4, native: () => k.l2Norm(x), ts: () => ref.l2Norm(x) },
  // max norm 1e9: nothing to scale, so one read of the data
  { name: 'clip by global norm', bytes: f4, native: () => k.clipByGlobalNorm([out], 1e9), ts: () => ref.clipByGlobalNorm([out], 1e9) },
  { name: 'sgd momentum+nesterov+wd', bytes: 5 * f4,
    native: () => k.sgdStep(out, x, { lr: 1e-6, momentum: 0.9, nesterov: true, weightDecay: 1e-4, velocity }),
    ts: () => ref.sgdStep(out, x, { lr: 1e-6, momentum: 0.9, nesterov: true, weightDecay: 1e-4, velocity }) },
  { name: 'adamw', bytes: 7 * f4, native: () => k.adamStep(out, x, adam, { lr: 1e-6, weightDecay: 0.01, decoupled: true, step: 10 }),
    ts: () => ref.adamStep(out, x, adam, { lr: 1e-6, weightDecay: 0.01, decoupled: true, step: 10 }) },
  { name: 'float32 -> float16', bytes: 1.5 * f4, native: () => k.toFloat16(x, h16),
    ts: () => { for (let i = 0; i < N; i++) h16[i] = ref.f32ToF16(x[i]); } },
  { name: 'float16 -> float32', bytes: 1.5 * f4, native: () => k.fromFloat16(h16, out),
    ts: () => { for (let i = 0; i < N; i++) out[i] = ref.f16ToF32(h16[i]); } },
  { name: 'float32 -> bfloat16', bytes: 1.5 * f4, native: () => k.toBFloat16(x, h16),
    ts: () => { for (let i = 0; i < N; i++) h16[i] = ref.f32ToBf16(x[i]); } },
  { name: 'bfloat16 -> float32', bytes: 1.5 * f4, native: () => k.fromBFloat16(h16, out),
    ts: () => { for (let i = 0; i < N; i++) out[i] = ref.bf16ToF32(h16[i]); } },
  { name: 'int8 quantize', bytes: 1.25 * f4, native: () => k.quantizeInt8(x, { scale: q8.scale, out: q8.values }),
    ts: () => ref.quantizeInt8(x, q8.scale, q8.values) },
  { name: 'int8 dequantize', bytes: 1.25 * f4, native: () => k.dequantizeInt8(q8.values, q8.scale, out),
    ts: () => ref.dequantizeInt8(q8.values, q8.scale, out) },
  { name: 'top-1% + error feedback', bytes: 4 * f4, native: () => k.topKWithErrorFeedback(x, topK, residual),
    ts: () => ref.topKWithErrorFeedback(x, topK, residual), slowTs: true },
];

function measure(fn, slow) {
  return new Promise((resolve) => {
    const b = new Benchmark({
      fn,
      minSamples: slow || quick ? 2 : 8,
      maxTime: quick ? 0.5 : 2,
      initCount: 1,
      onComplete: () => resolve(b.stats.mean * 1000),
    });
    b.run({ async: false });
  });
}

function bandwidth() {
  const exe = path.join(root, 'build', 'Release', 'spirt_stream');
  return JSON.parse(execFileSync(exe, [String(N), '10'], { encoding: 'utf8' }));
}

async function main() {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  console.log(`spirt kernel benchmark: n=${N} float32 (${(f4 / MB).toFixed(1)} MB), SIMD path ${k.simd.path}, ${cpu}, ${os.cpus().length} cores`);
  const streamBefore = bandwidth();
  const rows = [];
  for (const c of cases) {
    const nativeMs = await measure(c.native);
    const tsMs = await measure(c.ts, c.slowTs);
    const row = { kernel: c.name, nativeMs, tsMs, speedup: tsMs / nativeMs, nativeGBps: c.bytes / (nativeMs / 1000) / 1e9 };
    rows.push(row);
    console.log(`  ${c.name.padEnd(26)} native ${nativeMs.toFixed(2).padStart(8)} ms  TS ${tsMs.toFixed(2).padStart(9)} ms  ` +
      `x${row.speedup.toFixed(1).padStart(6)}  ${row.nativeGBps.toFixed(1).padStart(5)} GB/s`);
  }
  const streamAfter = bandwidth();
  const triad = Math.max(streamBefore.triad_gbps, streamAfter.triad_gbps);
  const copy = Math.max(streamBefore.copy_gbps, streamAfter.copy_gbps);
  const meanRow = rows[0];
  const meanFraction = meanRow.nativeGBps / triad;
  const slowest = rows.reduce((a, b) => (a.speedup < b.speedup ? a : b));
  const targets = {
    meanBandwidthFraction: { value: meanFraction, target: 0.6, met: meanFraction >= 0.6 },
    minSpeedupVsTs: { value: slowest.speedup, kernel: slowest.kernel, target: 4, met: slowest.speedup >= 4 },
  };
  console.log(`\n  memory bandwidth (C, single thread): copy ${copy.toFixed(1)} GB/s, triad ${triad.toFixed(1)} GB/s`);
  console.log(`  mean of 8: ${meanRow.nativeGBps.toFixed(1)} GB/s = ${(meanFraction * 100).toFixed(0)}% of triad (target 60%): ${targets.meanBandwidthFraction.met ? 'met' : 'MISSED'}`);
  console.log(`  slowest speedup vs TS: x${slowest.speedup.toFixed(1)} (${slowest.kernel}) (target x4): ${targets.minSpeedupVsTs.met ? 'met' : 'MISSED'}`);
  const result = {
    date: new Date().toISOString(), n: N, simdPath: k.simd.path, cpu, cores: os.cpus().length, node: process.version,
    bandwidthGBps: { copy, triad }, rows, targets,
  };
  const dir = path.join(root, 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'kernels.json'), `${JSON.stringify(result, null, 2)}\n`);
  console.log(`  written: bench/results/kernels.json`);
  process.exitCode = targets.meanBandwidthFraction.met && targets.minSpeedupVsTs.met ? 0 : 2;
}

main();
