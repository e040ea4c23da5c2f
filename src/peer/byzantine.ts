// Byzantine peers for the robust-aggregation benchmark: insiders that replace their honest gradient with a
// crafted one before sending it (so it is correctly signed). label-flip acts earlier, in the gradient
// functions (labels y -> 9 - y).
import { xorshift32 } from '../random';
import { PeerDb, asFloat32 } from './db';
import { RunConfig, View, keys, version } from './protocol';
import { Position } from './view';

/** Standard normal quantile by bisection on the CDF (erf after Abramowitz and Stegun 7.1.26, |error| < 1.5e-7). */
function normalQuantile(p: number): number {
  const cdf = (x: number) => {
    const t = 1 / (1 + 0.3275911 * (Math.abs(x) / Math.SQRT2));
    const erf = 1 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-(x * x) / 2);
    return 0.5 * (1 + Math.sign(x) * erf);
  };
  let lo = -10, hi = 10;
  for (let i = 0; i < 100; i++) {
    const mid = (lo + hi) / 2;
    if (cdf(mid) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** ALIE's z for n peers of which f attack (Baruch et al. 2019): s = floor(n/2 + 1) - f, z = quantile((n - s) / n). */
export function alieZ(n: number, f: number): number {
  const s = Math.floor(n / 2 + 1) - f;
  return normalQuantile((n - s) / n);
}

/**
 * Replaces the peer's local gradient in its database: sign-flip sends -4g, scaled 100g, gaussian
 * N(0, 1) noise, alie mean - z * std over the peer's own K minibatch gradients.
 */
export async function attack(config: RunConfig, peer: number, view: View, position: Position, own: PeerDb): Promise<void> {
  const kind = config.byzantine!.attack;
  if (kind === 'label-flip') return;
  const ver = version(position.step, view.number);
  const local = await own.getBlob(keys.localGradient(peer));
  if (!local) throw new Error(`the local gradient of peer ${peer} vanished`);
  const g = Float32Array.from(asFloat32(local));
  if (kind === 'sign-flip') for (let i = 0; i < g.length; i++) g[i] *= -4;
  else if (kind === 'scaled') for (let i = 0; i < g.length; i++) g[i] *= 100;
  else if (kind === 'gaussian') {
    const next = xorshift32((config.seed * 7919 + position.step * 31 + peer + 1) >>> 0 || 1);
    const uniform = () => (next() + 0.5) / 4294967296;
    for (let i = 0; i < g.length; i++) g[i] = Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  } else {
    const workers = await Promise.all(Array.from({ length: config.functions }, (_, k) => own.getBlob(keys.workerGradient(peer, k))));
    const gs = workers.map((w) => asFloat32(w as Buffer));
    const z = alieZ(view.members.length, config.byzantine!.peers.filter((p) => view.members.includes(p)).length);
    for (let i = 0; i < g.length; i++) {
      let mean = 0, sq = 0;
      for (const w of gs) mean += w[i];
      mean /= gs.length;
      for (const w of gs) sq += (w[i] - mean) ** 2;
      g[i] = mean - z * Math.sqrt(sq / gs.length);
    }
  }
  await own.setFloat32(keys.localGradient(peer), new Uint8Array(g.buffer), ver);
}

/** Labels as a label-flipping attacker's gradient functions see them. */
export function flipLabels(labels: Uint8Array, classes = 10): Uint8Array {
  return labels.map((y) => classes - 1 - y);
}
