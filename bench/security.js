#!/usr/bin/env node
// What security costs the gradient exchange, side by side in one run on one ResNet-18 gradient (11.69M
// float32, 46.8 MB):
//   - TLS: TENSOR.GET from one embedded server and TENSOR.SET into another (the client-side exchange between
//     two peers' databases), both servers plain vs both TLS with client certificates (ioredis, TensorStore);
//   - signing: signGradient (SHA-256 + Ed25519 in node:crypto) and TENSOR.SETSIGNED (SHA-256 + Ed25519 in the
//     module) against TENSOR.SET PROTO of the same tensor, unsigned (spirt.Tensor).
// Median of --reps rounds (default 7), the variants interleaved in each round. Writes bench/results/security.json and security.svg.
// Usage: npm run build && node bench/security.js [--n 11690000] [--reps 7] [--out bench/results]
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const dist = (m) => require(path.join(root, 'dist', m));
const { startRedis } = dist('redis/launcher');
const { TensorStore } = dist('store/tensorStore');
const { tensor } = dist('tensor');
const { encodeGradient, encodeTensor } = dist('wire');
const { createTlsMaterial, clientTlsOptions } = dist('security/tls');
const { loadOrCreateIdentity } = dist('security/identity');
const { signGradient } = dist('security/signing');
const { pinnedKey } = dist('security/acl');

const argv = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : fallback;
};
const N = Number(flag('n', 11_690_000));
const REPS = Number(flag('reps', 7));
const OUT = path.resolve(flag('out', path.join(root, 'bench', 'results')));

const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
/** Runs the functions in turn, REPS rounds (interleaved, so load from other jobs hits each alike). */
async function timeEach(...fns) {
  const times = fns.map(() => []);
  for (let i = 0; i < REPS; i++) {
    for (const [j, fn] of fns.entries()) {
      const t0 = process.hrtime.bigint();
      await fn(i);
      times[j].push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  }
  return times.map((t) => ({ medianMs: median(t), runsMs: t }));
}

function barSvg(title, bars) {
  const W = 640, row = 34, left = 300, H = 60 + row * bars.length;
  const max = Math.max(...bars.map((b) => b.ms));
  const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    '<rect width="100%" height="100%" fill="white"/>',
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`];
  bars.forEach((b, i) => {
    const y = 40 + i * row, w = ((W - left - 80) * b.ms) / max;
    out.push(`<text x="${left - 8}" y="${y + 17}" text-anchor="end">${esc(b.label)}</text>`);
    out.push(`<rect x="${left}" y="${y + 4}" width="${w.toFixed(1)}" height="20" fill="${b.color}"/>`);
    out.push(`<text x="${left + w + 6}" y="${y + 18}">${b.ms.toFixed(1)} ms</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

async function main() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'spirt-bench-security-'));
  const material = createTlsMaterial(path.join(tmp, 'tls'));
  const servers = [];
  const stores = [];
  try {
    const plain = [await startRedis(), await startRedis()];
    const secure = [await startRedis({ tls: material }), await startRedis({ tls: material })];
    servers.push(...plain, ...secure);
    const tlsOptions = clientTlsOptions(material);
    const connect = async (r, tls) => {
      const s = await TensorStore.connect(r.url, { commandTimeoutMs: 120_000, ...(tls ? { tls: tlsOptions } : {}) });
      stores.push(s);
      return s;
    };
    const [pa, pb, sa, sb] = [await connect(plain[0]), await connect(plain[1]), await connect(secure[0], true), await connect(secure[1], true)];
    const data = new Float32Array(N);
    for (let i = 0; i < N; i++) data[i] = Math.sin(i) * 1e-3;
    const grad = tensor('float32', [N], data);
    await pa.set('{peer1}:grad', grad);
    await sa.set('{peer1}:grad', grad);
    const exchange = (from, to) => async () => {
      const t = await from.get('{peer1}:grad');
      await to.set('{peer1}:grad', t);
    };
    await exchange(pa, pb)(); // warm both paths once
    await exchange(sa, sb)();
    const [plainRun, tlsRun] = await timeEach(exchange(pa, pb), exchange(sa, sb));

    const identity = loadOrCreateIdentity('peer1', { dir: path.join(tmp, 'keys') });
    await pb.command('SET', pinnedKey('peer1'), Buffer.from(identity.publicKey));
    const unsigned = encodeTensor(grad);
    const messages = Array.from({ length: REPS }, (_, i) =>
      encodeGradient(signGradient({ epoch: 0, step: 10 + i, view: 0, numBatches: 1, tensor: grad }, identity)));
    const [sign, setProto, setSigned] = await timeEach(
      () => signGradient({ epoch: 0, step: 1, view: 0, numBatches: 1, tensor: grad }, identity),
      () => pb.command('TENSOR.SET', '{peer1}:in', 'PROTO', Buffer.from(unsigned.buffer, unsigned.byteOffset, unsigned.byteLength)),
      (i) => pb.setSigned('signed:{peer1}:in', messages[i], { signerKey: pinnedKey('peer1'), peer: 'peer1', step: 10 + i, view: 0 }));

    const result = {
      date: new Date().toISOString(), cpu: os.cpus()[0].model, cores: os.cpus().length, node: process.version,
      elements: N, bytes: N * 4, reps: REPS, note: 'one machine, loopback; the machine was shared with other jobs',
      exchange: {
        what: 'TENSOR.GET from server A + TENSOR.SET into server B through ioredis (TensorStore), both plain vs both TLS (Ed25519 certificates, client certificates verified)',
        plain: plainRun, tls: tlsRun, tlsOverPlain: tlsRun.medianMs / plainRun.medianMs,
      },
      signing: {
        signGradient: sign, setProto, setSigned, setSignedOverSetProto: setSigned.medianMs / setProto.medianMs,
      },
    };
    fs.mkdirSync(OUT, { recursive: true });
    fs.writeFileSync(path.join(OUT, 'security.json'), `${JSON.stringify(result, null, 2)}\n`);
    fs.writeFileSync(path.join(OUT, 'security.svg'), barSvg(`What security costs: ${(N / 1e6).toFixed(2)}M float32 (median of ${REPS})`, [
      { label: 'exchange GET+SET, plain', ms: plainRun.medianMs, color: '#4c78a8' },
      { label: 'exchange GET+SET, TLS', ms: tlsRun.medianMs, color: '#e45756' },
      { label: 'signGradient (TS)', ms: sign.medianMs, color: '#72b7b2' },
      { label: 'TENSOR.SET PROTO (unsigned)', ms: setProto.medianMs, color: '#4c78a8' },
      { label: 'TENSOR.SETSIGNED (verified)', ms: setSigned.medianMs, color: '#f58518' },
    ]));
    console.log(`exchange of ${(N * 4 / 1e6).toFixed(1)} MB: plain ${plainRun.medianMs.toFixed(1)} ms, TLS ${tlsRun.medianMs.toFixed(1)} ms (x${result.exchange.tlsOverPlain.toFixed(2)})`);
    console.log(`signGradient ${sign.medianMs.toFixed(1)} ms; TENSOR.SET PROTO ${setProto.medianMs.toFixed(1)} ms, TENSOR.SETSIGNED ${setSigned.medianMs.toFixed(1)} ms (x${result.signing.setSignedOverSetProto.toFixed(2)})`);
    console.log(`wrote ${path.join(OUT, 'security.json')} and security.svg`);
  } finally {
    for (const s of stores) await s.close();
    for (const r of servers) await r.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
