#!/usr/bin/env node
// TENSOR.AGG against TENSOR.AVG inside one private redis-server: 8 sources of 11.69M float32 (one ResNet-18
// gradient each), every rule timed in the same rounds as AVG (rules interleaved, so drift on a shared machine
// reaches them alike), median of the rounds, each rule's time as a ratio of AVG's. The reply is OK or a few
// indices, so the time is the server's work. Checks that MEAN wrote the same bytes as AVG. Writes
// bench/results/agg.json and agg.svg. Needs `npm run build` and the native build.
// Usage: node bench/agg.js [--floats 11690000] [--sources 8] [--rounds 5]
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const Redis = require('ioredis');

const root = path.resolve(__dirname, '..');
const { startRedis } = require(path.join(root, 'dist', 'redis', 'launcher'));

const argv = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : fallback;
};
const FLOATS = flag('floats', 11_690_000);
const SOURCES = flag('sources', 8);
const ROUNDS = flag('rounds', 5);
const F = Math.floor((SOURCES - 3) / 2); // the most Byzantine sources Krum tolerates

const keys = Array.from({ length: SOURCES }, (_, j) => `{bench}:g:${j}`);
/** every command times after its warm-up run; dest exists then, so each rule writes it in place, as AVG does */
const CASES = [
  { name: 'AVG', args: ['TENSOR.AVG', '{bench}:out:avg', ...keys] },
  { name: 'MEAN', args: ['TENSOR.AGG', '{bench}:out:mean', 'MEAN', ...keys] },
  { name: 'MEDIAN', args: ['TENSOR.AGG', '{bench}:out:median', 'MEDIAN', ...keys] },
  { name: 'TRIMMED 2', args: ['TENSOR.AGG', '{bench}:out:trimmed', 'TRIMMED', '2', ...keys] },
  { name: `KRUM ${F}`, args: ['TENSOR.AGG', '{bench}:out:krum', 'KRUM', String(F), ...keys] },
  { name: `KRUM ${F} MULTI ${SOURCES - F - 2}`, args: ['TENSOR.AGG', '{bench}:out:mkrum', 'KRUM', String(F), 'MULTI', String(SOURCES - F - 2), ...keys] },
  { name: 'CCLIP 10 ITERS 1', args: ['TENSOR.AGG', '{bench}:out:cclip1', 'CCLIP', '10', 'CENTER', keys[0], ...keys] },
  { name: 'CCLIP 10 ITERS 3', args: ['TENSOR.AGG', '{bench}:out:cclip3', 'CCLIP', '10', 'ITERS', '3', 'CENTER', keys[0], ...keys] },
];

/** gradient-like values in [-0.01, 0.01) (xorshift32), the same every run */
function gradient(n, seed) {
  const out = new Float32Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out[i] = (x / 4294967296 - 0.5) * 0.02;
  }
  return out;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function barsSvg(title, rows) {
  const W = 640, bar = 22, left = 190, top = 40, max = Math.max(...rows.map((r) => r.ms));
  const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const items = rows.map((r, i) => {
    const y = top + i * (bar + 8), w = ((W - left - 150) * r.ms) / max;
    return `<text x="${left - 8}" y="${y + 15}" text-anchor="end">${esc(r.name)}</text>` +
      `<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${bar}" fill="${r.name === 'AVG' ? '#7570b3' : '#1b9e77'}"/>` +
      `<text x="${(left + w + 6).toFixed(1)}" y="${y + 15}">${r.ms.toFixed(1)} ms (${r.ratio.toFixed(2)}x AVG)</text>`;
  });
  const H = top + rows.length * (bar + 8) + 10;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="13">` +
    `<rect width="${W}" height="${H}" fill="white"/><text x="10" y="22" font-weight="bold">${esc(title)}</text>${items.join('')}</svg>\n`;
}

async function main() {
  const redis = await startRedis();
  const r = new Redis(redis.port, '127.0.0.1');
  try {
    for (let j = 0; j < SOURCES; j++) {
      const g = gradient(FLOATS, j + 1);
      await r.call('TENSOR.SET', keys[j], 'FLOAT32', 'SHAPE', String(FLOATS), 'BLOB', Buffer.from(g.buffer, g.byteOffset, g.byteLength));
    }
    const time = async (args) => {
      const t0 = process.hrtime.bigint();
      const reply = await r.call(...args);
      return { ms: Number(process.hrtime.bigint() - t0) / 1e6, reply };
    };
    const samples = CASES.map(() => []);
    const replies = [];
    for (let i = 0; i < CASES.length; i++) replies.push((await time(CASES[i].args)).reply); // warm-up: dest created
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < CASES.length; i++) samples[i].push((await time(CASES[i].args)).ms);
      process.stderr.write(`round ${round + 1}/${ROUNDS}: ${samples.map((s) => s[round].toFixed(0)).join(' ')} ms\n`);
    }
    const [avgBytes, meanBytes] = await Promise.all(['{bench}:out:avg', '{bench}:out:mean'].map((k) => r.callBuffer('TENSOR.GET', k)));
    if (!avgBytes.equals(meanBytes)) throw new Error('TENSOR.AGG MEAN and TENSOR.AVG disagree');
    const simd = /spirt: tensor module loaded, (\S+) kernels/.exec(fs.readFileSync(redis.logFile, 'utf8'));
    const avgMs = median(samples[0]);
    const rows = CASES.map((c, i) => ({
      name: c.name, ms: median(samples[i]), ratio: median(samples[i]) / avgMs, samples_ms: samples[i],
      ...(Array.isArray(replies[i]) ? { selected: replies[i] } : {}),
    }));
    const info = await r.info('server');
    const result = {
      bench: 'TENSOR.AGG rules against TENSOR.AVG in one redis-server', floats: FLOATS, sources: SOURCES, rounds: ROUNDS,
      command: `node bench/agg.js --floats ${FLOATS} --sources ${SOURCES} --rounds ${ROUNDS}`,
      simd: simd ? simd[1] : 'unknown', redis: /redis_version:(\S+)/.exec(info)?.[1],
      machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, load_avg_1min_at_end: os.loadavg()[0] },
      node: process.version, date: new Date().toISOString(),
      goal: 'MEDIAN and TRIMMED within 5x of AVG', goal_met: rows.filter((x) => /^(MEDIAN|TRIMMED)/.test(x.name)).every((x) => x.ratio <= 5),
      rules: rows,
    };
    const out = path.join(root, 'bench', 'results');
    fs.mkdirSync(out, { recursive: true });
    fs.writeFileSync(path.join(out, 'agg.json'), `${JSON.stringify(result, null, 2)}\n`);
    fs.writeFileSync(path.join(out, 'agg.svg'), barsSvg(
      `TENSOR.AGG vs TENSOR.AVG, ${SOURCES} x ${(FLOATS / 1e6).toFixed(2)}M float32, median of ${ROUNDS} (${result.simd})`, rows));
    console.log(`rule                   median ms   x AVG   (${SOURCES} sources x ${FLOATS} float32, ${result.simd}, median of ${ROUNDS})`);
    for (const x of rows) console.log(`${x.name.padEnd(22)} ${x.ms.toFixed(1).padStart(9)}  ${x.ratio.toFixed(2).padStart(6)}`);
    console.log(`wrote bench/results/agg.json and agg.svg`);
  } finally {
    r.disconnect();
    await redis.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
