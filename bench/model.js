#!/usr/bin/env node
// Model-side benchmark, measured side by side in one run:
//  1. single-threaded SGEMM GFLOP/s: spirt's GEMM vs OpenBLAS (Debian libopenblas-dev, compiled here only
//     for this benchmark from bench/gemm_openblas.c); target >= 70% of OpenBLAS on every shape;
//  2. one MLP gradient + SGD step on the same Fashion-MNIST batch: spirt's native engine vs
//     @tensorflow/tfjs on its CPU backend; target >= 5x faster (the CNN is timed too, for information).
// Writes bench/results/model.json.  Usage: node bench/model.js [--steps 20]
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const dist = (m) => require(path.join(root, 'dist', m));
const { Model } = dist('model/model');
const { mlpSpec, cnnSpec } = dist('model/spec');
const { loadFashionMnist, epochBatches } = dist('data/fashionMnist');
const { sgdStep, simd } = dist('kernels');

const argv = process.argv.slice(2);
const steps = Number(argv[argv.indexOf('--steps') + 1] || 20) || 20;

function gemmVsOpenblas() {
  const exe = path.join(root, 'build', 'Release', 'spirt_gemm_bench');
  try {
    execFileSync('cc', ['-O2', path.join(root, 'bench', 'gemm_openblas.c'), path.join(root, 'build', 'libspirt_kernels.a'),
      '-I', path.join(root, 'native', 'kernels'), '-lopenblas', '-lm', '-o', exe], { stdio: 'pipe' });
  } catch (e) {
    throw new Error(`cannot build the OpenBLAS comparison (apt-get install -y libopenblas-dev, and npm run build:native first):\n${e.stderr ?? e.message}`);
  }
  return execFileSync(exe, ['20'], { encoding: 'utf8', env: { ...process.env, OPENBLAS_NUM_THREADS: '1' } })
    .trim().split('\n').map((l) => JSON.parse(l));
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function spirtStepMs(spec, batch) {
  const model = new Model(spec);
  const params = model.initParams(1), grad = new Float32Array(model.paramCount), velocity = new Float32Array(model.paramCount);
  const times = [];
  for (let i = 0; i <= steps; i++) {
    const t0 = process.hrtime.bigint();
    await model.gradient(params, [batch], grad);
    sgdStep(params, grad, { lr: 0.01, momentum: 0.9, velocity });
    if (i) times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return median(times);
}

function tfjsModel(tf, spec) {
  const layers = [];
  const [c, h, w] = spec.input;
  let first = true;
  const shapeArg = () => (first ? ((first = false), { inputShape: [h, w, c] }) : {});
  for (const l of spec.layers) {
    if (l.type === 'dense') {
      if (layers.length === 0 || layers[layers.length - 1].getClassName() !== 'Flatten' && layers[layers.length - 1].getClassName() !== 'Dense' && layers[layers.length - 1].getClassName() !== 'Activation') {
        layers.push(tf.layers.flatten(shapeArg()));
      }
      layers.push(tf.layers.dense({ units: l.units }));
    } else if (l.type === 'relu') layers.push(tf.layers.activation({ activation: 'relu' }));
    else if (l.type === 'conv2d') layers.push(tf.layers.conv2d({ filters: l.filters, kernelSize: l.kernel, padding: l.padding ? 'same' : 'valid', ...shapeArg() }));
    else if (l.type === 'maxpool2') layers.push(tf.layers.maxPooling2d({ poolSize: 2 }));
  }
  return tf.sequential({ layers });
}

async function tfjsStepMs(tf, spec, batch) {
  const model = tfjsModel(tf, spec);
  const optimizer = tf.train.momentum(0.01, 0.9);
  const n = batch.labels.length;
  const [c, h, w] = spec.input;
  const x = tf.tensor4d(batch.images, [n, h, w, c]);
  const y = tf.oneHot(tf.tensor1d(Array.from(batch.labels), 'int32'), spec.classes);
  const times = [];
  for (let i = 0; i <= steps; i++) {
    const t0 = process.hrtime.bigint();
    const loss = optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x)), true);
    await loss.data();
    loss.dispose();
    if (i) times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return median(times);
}

async function main() {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  console.log(`spirt model benchmark: ${cpu}, ${os.cpus().length} cores, SIMD path ${simd.path}`);
  const gemm = gemmVsOpenblas();
  console.log('\nsingle-threaded SGEMM (row-major C = A.B), GFLOP/s');
  for (const g of gemm) {
    g.ratio = g.spirt_gflops / g.openblas_gflops;
    console.log(`  ${`${g.m}x${g.n}x${g.k}`.padEnd(16)} spirt ${g.spirt_gflops.toFixed(1).padStart(6)}  OpenBLAS ${g.openblas_gflops.toFixed(1).padStart(6)}  ${(g.ratio * 100).toFixed(0).padStart(4)}%`);
  }
  const tf = require('@tensorflow/tfjs');
  await tf.setBackend('cpu');
  const batch = epochBatches(loadFashionMnist('train'), 64, 1).next().value;
  const steps_ = [];
  for (const [name, spec] of [['mlp', mlpSpec()], ['cnn', cnnSpec()]]) {
    const spirtMs = await spirtStepMs(spec, batch);
    const tfjsMs = await tfjsStepMs(tf, spec, batch);
    steps_.push({ model: name, batch: 64, spirtMs, tfjsMs, speedup: tfjsMs / spirtMs });
    console.log(`\n${name} gradient + SGD step, batch 64: spirt ${spirtMs.toFixed(2)} ms, tfjs (${tf.getBackend()}) ${tfjsMs.toFixed(2)} ms: x${(tfjsMs / spirtMs).toFixed(1)}`);
  }
  const worstGemm = gemm.reduce((a, b) => (a.ratio < b.ratio ? a : b));
  const mlp = steps_[0];
  const targets = {
    gemmVsOpenblas: { value: worstGemm.ratio, shape: [worstGemm.m, worstGemm.n, worstGemm.k], target: 0.7, met: worstGemm.ratio >= 0.7 },
    mlpStepVsTfjs: { value: mlp.speedup, target: 5, met: mlp.speedup >= 5 },
  };
  console.log(`\nworst GEMM shape: ${(worstGemm.ratio * 100).toFixed(0)}% of OpenBLAS (target 70%): ${targets.gemmVsOpenblas.met ? 'met' : 'MISSED'}`);
  console.log(`MLP step: x${mlp.speedup.toFixed(1)} vs tfjs (target x5): ${targets.mlpStepVsTfjs.met ? 'met' : 'MISSED'}`);
  const out = path.join(root, 'bench', 'results', 'model.json');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify({ date: new Date().toISOString(), cpu, cores: os.cpus().length, simdPath: simd.path,
    node: process.version, tfjs: tf.version.tfjs, gemm, steps: steps_, targets }, null, 2)}\n`);
  console.log('written: bench/results/model.json');
  process.exitCode = targets.gemmVsOpenblas.met && targets.mlpStepVsTfjs.met ? 0 : 2;
}

main().catch((e) => {
  console.error(e.message);
  process.exitCode = 1;
});
