#!/usr/bin/env node
// Wake latency of TENSOR.WAIT: a waiter blocked on a key, a publisher writing the version it waits for. For
// each wake, the time from sending the publish to the waiter's reply, and in the same run the publisher's own
// round trip (its reply to the same write) and the waiter's reply relative to it. Median and p99 over the
// wakes; prints a table and writes bench/results/wait.json. Needs `npm run build` and the native build.
// Usage: node bench/wait.js [--wakes 1000] [--floats 1024]
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const Redis = require('ioredis');

const root = path.resolve(__dirname, '..');
const { startRedis } = require(path.join(root, 'dist', 'redis', 'launcher'));

const argv = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : fallback;
};
const WAKES = flag('wakes', 1000);
const FLOATS = flag('floats', 1024);

const ms = (ns) => Number(ns) / 1e6;
function summary(samples) {
  const sorted = samples.map(ms).sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { median: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] };
}

async function main() {
  const redis = await startRedis();
  const [waiter, publisher, observer] = [0, 1, 2].map(() => new Redis(redis.port, '127.0.0.1'));
  const blob = Buffer.alloc(4 * FLOATS);
  const wake = [], publish = [], afterAck = [];
  try {
    for (let v = 1; v <= WAKES; v++) {
      const woken = waiter.call('TENSOR.WAIT', 'TIMEOUT', '5000', 'VERSION', String(v), 'bench:key')
        .then((reply) => {
          if (!Array.isArray(reply)) throw new Error(`wake ${v} timed out`);
          return process.hrtime.bigint();
        });
      // the harness (not the waiter) checks that the wait has blocked before publishing
      while (!/blocked_clients:1\b/.test(await observer.info('clients')));
      const sent = process.hrtime.bigint();
      const acked = publisher.call('TENSOR.SET', 'bench:key', 'FLOAT32', 'SHAPE', String(FLOATS), 'BLOB', blob, 'VERSION', String(v))
        .then(() => process.hrtime.bigint());
      const [wokeAt, ackedAt] = await Promise.all([woken, acked]);
      wake.push(wokeAt - sent);
      publish.push(ackedAt - sent);
      afterAck.push(wokeAt - ackedAt);
    }
  } finally {
    [waiter, publisher, observer].forEach((c) => c.disconnect());
    await redis.stop();
  }
  const result = {
    bench: 'TENSOR.WAIT wake latency', wakes: WAKES, floats: FLOATS,
    wake_ms: summary(wake), publish_round_trip_ms: summary(publish), wake_after_publisher_ack_ms: summary(afterAck),
    node: process.version, date: new Date().toISOString(),
  };
  console.log('                         median      p99      max   (ms, over %d wakes, %d-float tensor)', WAKES, FLOATS);
  const rows = [
    ['publish -> waiter woken', result.wake_ms],
    ['publish -> publisher ack', result.publish_round_trip_ms],
    ['publisher ack -> woken', result.wake_after_publisher_ack_ms],
  ];
  for (const [name, s] of rows) {
    console.log(`${name.padEnd(24)} ${s.median.toFixed(3).padStart(7)} ${s.p99.toFixed(3).padStart(8)} ${s.max.toFixed(3).padStart(8)}`);
  }
  fs.mkdirSync(path.join(root, 'bench', 'results'), { recursive: true });
  fs.writeFileSync(path.join(root, 'bench', 'results', 'wait.json'), `${JSON.stringify(result, null, 2)}\n`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
