// The failure benchmark's graph in the style of SPIRT's peer failure recovery graph: a lane per peer with
// time on x and every applied step as a tick, first for the whole run, then zoomed on the recovery with the
// failure, detection and recovery marks across the lanes, and below them the group's step time against the
// pre-failure median and the full-speed threshold.
import type { FailureBenchResult } from './failure';

const W = 960, LEFT = 64, RIGHT = 24, LANE = 30, OVERVIEW_LANE = 10, PANEL = 150;
const FULL = '#1f77b4', DEGRADED = '#ff7f0e';

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function niceStep(range: number, target: number): number {
  const raw = range / target;
  const p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * p).find((v) => v >= raw) ?? raw;
}

export function failureSvg(r: FailureBenchResult): string {
  const t = r.timeline, s = r.settings;
  const t0 = r.startedAt;
  const allAt = r.lanes.flatMap((l) => [...l.steps.map((x) => x.at), ...l.views.map((v) => v.at)]);
  const end = Math.max(...allAt, t0 + 1);
  const pw = W - LEFT - RIGHT;
  // the whole run as an overview; the recovery, from a little before the kill to a little after full speed, zoomed
  const recoveryEnd = t.fullSpeed?.at ?? t.replacement?.readyAt ?? t.viewChange?.at ?? t.kill.at;
  const pad = Math.max(0.3 * (recoveryEnd - t.kill.at), 10 * (t.stepTimes.baselineMs ?? 100));
  const [z0, z1] = [Math.max(t0, t.kill.at - pad), Math.min(end, recoveryEnd + pad)];
  const ox = (at: number) => LEFT + ((at - t0) / (end - t0)) * pw;
  const x = (at: number) => LEFT + ((at - z0) / (z1 - z0)) * pw;
  const inZoom = (at: number) => at >= z0 && at <= z1;
  const overviewTop = 80, overviewBottom = overviewTop + s.peers * OVERVIEW_LANE;
  const lanesTop = overviewBottom + 62, lanesBottom = lanesTop + s.peers * LANE;
  const panelTop = lanesBottom + 16, panelBottom = panelTop + PANEL;

  const marks: Array<{ label: string; at: number | null | undefined; color: string; dash: string; width: number }> = [
    { label: `failure: peer ${t.kill.peer}${t.kill.server ? ' and its server' : ''} killed`, at: t.kill.at, color: '#d62728', dash: '', width: 2 },
    { label: 'detection (a survivor starts a view change)', at: t.detection?.at, color: '#ff7f0e', dash: '4 2', width: 1.5 },
    { label: `view ${t.viewChange?.view ?? '?'} installed without peer ${t.kill.peer}`, at: t.viewChange?.at, color: '#9467bd', dash: '4 2', width: 1.5 },
    { label: 'replacement loaded, asks to join', at: t.replacement?.joiningAt, color: '#7f7f7f', dash: '1 2', width: 1.5 },
    { label: `view ${t.replacement?.view ?? '?'} admits it`, at: t.replacement?.admittedFirstAt, color: '#17becf', dash: '4 2', width: 1.5 },
    { label: 'replacement ready (state copied, digest verified)', at: t.replacement?.readyAt, color: '#2ca02c', dash: '4 2', width: 1.5 },
    { label: `back to full speed (<= ${s.factor}x pre-failure step time)`, at: t.fullSpeed?.at, color: '#006400', dash: '', width: 2 },
  ];
  const shown = marks.filter((m): m is typeof m & { at: number } => m.at != null);
  const legendTop = panelBottom + 48;
  const height = legendTop + Math.ceil(shown.length / 2) * 16 + 28;
  const tickColor = (members: number) => (members === s.peers ? FULL : DEGRADED);

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" font-family="sans-serif" font-size="11">`,
    '<rect width="100%" height="100%" fill="white"/>',
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">Peer failure and recovery: ${s.peers} peers, peer ${t.kill.peer} killed (kill -9) in epoch ${s.atEpoch}</text>`,
    `<text x="${W / 2}" y="38" text-anchor="middle" fill="#444">${esc(`${s.functions} functions x batch ${s.batch} per peer, heartbeat ${s.heartbeatMs} ms; ` +
      `detection ${t.detection ? `${(t.detection.afterKillMs / 1000).toFixed(2)} s (${t.detection.intervals.toFixed(2)} intervals)` : 'n/a'}, ` +
      `recovery to full speed ${t.phases.recoveryMs == null ? 'n/a' : `${(t.phases.recoveryMs / 1000).toFixed(2)} s`}; ${r.machine.cores}-core machine, shared`)}</text>`,
    `<text x="${LEFT}" y="${overviewTop - 22}" fill="#444">the whole run (seconds since training started; the box is zoomed below)</text>`,
  ];
  // overview: every step of every peer, epoch ends, the zoomed window
  for (const lane of r.lanes) {
    const top = overviewTop + lane.peer * OVERVIEW_LANE;
    out.push(`<text x="${LEFT - 8}" y="${top + OVERVIEW_LANE - 3}" text-anchor="end" font-size="9">peer ${lane.peer}</text>`);
    for (const step of lane.steps) out.push(`<line x1="${ox(step.at).toFixed(1)}" x2="${ox(step.at).toFixed(1)}" y1="${top + 2}" y2="${top + OVERVIEW_LANE - 2}" stroke="${tickColor(step.members)}" stroke-width="0.6"/>`);
  }
  for (const e of r.epochEnds) {
    out.push(`<line x1="${ox(e.at).toFixed(1)}" x2="${ox(e.at).toFixed(1)}" y1="${overviewTop}" y2="${overviewBottom}" stroke="#333" stroke-dasharray="2 2"/>`);
  }
  out.push(`<line x1="${ox(t.kill.at).toFixed(1)}" x2="${ox(t.kill.at).toFixed(1)}" y1="${overviewTop - 2}" y2="${overviewBottom + 2}" stroke="#d62728" stroke-width="2"/>`);
  out.push(`<rect x="${ox(z0).toFixed(1)}" y="${overviewTop - 3}" width="${Math.max(2, ox(z1) - ox(z0)).toFixed(1)}" height="${overviewBottom - overviewTop + 6}" fill="none" stroke="#000"/>`);
  const span = (end - t0) / 1000;
  for (let v = 0; v <= span + 1e-9; v += niceStep(span, 10)) {
    out.push(`<text x="${(LEFT + (v / span) * pw).toFixed(1)}" y="${overviewBottom + 14}" text-anchor="middle" font-size="9">${Number(v.toFixed(3))}</text>`);
  }
  for (const e of r.epochEnds) out.push(`<text x="${(ox(e.at) - 3).toFixed(1)}" y="${overviewTop - 6}" text-anchor="end" font-size="9" fill="#777">end of epoch ${e.epoch + 1}</text>`);
  out.push(`<text x="${LEFT}" y="${lanesTop - 10}" fill="#444">the recovery (seconds after the kill): every applied step is a tick</text>`);
  // zoomed lanes
  for (const e of r.epochEnds.filter((e) => inZoom(e.at))) {
    out.push(`<line x1="${x(e.at).toFixed(1)}" x2="${x(e.at).toFixed(1)}" y1="${lanesTop}" y2="${panelBottom}" stroke="#bbb" stroke-dasharray="2 3"/>`);
    out.push(`<text x="${(x(e.at) - 3).toFixed(1)}" y="${lanesTop + 10}" text-anchor="end" fill="#777">end of epoch ${e.epoch + 1}</text>`);
  }
  for (const lane of r.lanes) {
    const top = lanesTop + lane.peer * LANE;
    out.push(`<rect x="${LEFT}" y="${top + 3}" width="${pw}" height="${LANE - 6}" fill="#f7f7f7"/>`);
    out.push(`<text x="${LEFT - 8}" y="${top + LANE / 2 + 4}" text-anchor="end">peer ${lane.peer}</text>`);
    if (lane.peer === t.kill.peer) {
      const downEnd = Math.min(t.replacement?.readyAt ?? end, z1);
      out.push(`<rect x="${x(t.kill.at).toFixed(1)}" y="${top + 3}" width="${Math.max(1, x(downEnd) - x(t.kill.at)).toFixed(1)}" height="${LANE - 6}" fill="#fbd5d5"/>`);
      if (x(downEnd) - x(t.kill.at) > 40) out.push(`<text x="${((x(t.kill.at) + x(downEnd)) / 2).toFixed(1)}" y="${top + LANE / 2 + 4}" text-anchor="middle" fill="#a00">down</text>`);
    }
    for (const step of lane.steps.filter((st) => inZoom(st.at))) {
      const sx = x(step.at).toFixed(1);
      out.push(`<line x1="${sx}" x2="${sx}" y1="${top + 7}" y2="${top + LANE - 7}" stroke="${tickColor(step.members)}" stroke-width="2"/>`);
    }
    if (lane.peer === t.kill.peer) {
      const kx = x(t.kill.at), ky = top + LANE / 2;
      out.push(`<path d="M${kx - 5},${ky - 5}L${kx + 5},${ky + 5}M${kx - 5},${ky + 5}L${kx + 5},${ky - 5}" stroke="#d62728" stroke-width="2.5"/>`);
    }
  }
  // step-time panel over the zoomed window
  const timedSteps = t.steps.filter((g) => g.ms !== null && g.stepInEpoch !== 0 && inZoom(g.at));
  const base = t.stepTimes.baselineMs ?? Math.max(1, ...timedSteps.map((g) => g.ms!));
  const yMax = Math.max(base * 2.5, (t.stepTimes.thresholdMs ?? base) * 1.4);
  const y = (ms: number) => panelBottom - (Math.min(ms, yMax) / yMax) * PANEL;
  out.push(`<rect x="${LEFT}" y="${panelTop}" width="${pw}" height="${PANEL}" fill="none" stroke="#999"/>`);
  for (let v = 0; v <= yMax; v += niceStep(yMax, 4)) {
    out.push(`<line x1="${LEFT}" x2="${LEFT + pw}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#eee"/>`);
    out.push(`<text x="${LEFT - 4}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${Math.round(v)}</text>`);
  }
  out.push(`<text transform="translate(14,${(panelTop + panelBottom) / 2}) rotate(-90)" text-anchor="middle">group step time (ms)</text>`);
  out.push(`<polyline fill="none" stroke="#555" stroke-width="1" points="${timedSteps.map((g) => `${x(g.at).toFixed(1)},${y(g.ms!).toFixed(1)}`).join(' ')}"/>`);
  for (const g of timedSteps) {
    out.push(`<circle cx="${x(g.at).toFixed(1)}" cy="${y(g.ms!).toFixed(1)}" r="${g.ms! > yMax ? 4 : 2.5}" fill="${tickColor(g.members.length)}"/>`);
  }
  if (t.stepTimes.baselineMs !== null && t.stepTimes.thresholdMs !== null) {
    out.push(`<line x1="${LEFT}" x2="${LEFT + pw}" y1="${y(t.stepTimes.baselineMs).toFixed(1)}" y2="${y(t.stepTimes.baselineMs).toFixed(1)}" stroke="#333" stroke-dasharray="6 3"/>`);
    out.push(`<line x1="${LEFT}" x2="${LEFT + pw}" y1="${y(t.stepTimes.thresholdMs).toFixed(1)}" y2="${y(t.stepTimes.thresholdMs).toFixed(1)}" stroke="#d62728" stroke-dasharray="2 2"/>`);
    out.push(`<text x="${LEFT + 4}" y="${(y(t.stepTimes.baselineMs) - 3).toFixed(1)}" fill="#333">pre-failure median ${t.stepTimes.baselineMs.toFixed(0)} ms</text>`);
    out.push(`<text x="${LEFT + 4}" y="${(y(t.stepTimes.thresholdMs) - 3).toFixed(1)}" fill="#d62728">${s.factor}x: full speed</text>`);
  }
  // marks across the zoomed lanes and the panel
  for (const m of shown.filter((mk) => inZoom(mk.at))) {
    out.push(`<line x1="${x(m.at).toFixed(1)}" x2="${x(m.at).toFixed(1)}" y1="${lanesTop}" y2="${panelBottom}" stroke="${m.color}" stroke-width="${m.width}"${m.dash ? ` stroke-dasharray="${m.dash}"` : ''}/>`);
  }
  // time axis of the zoom, seconds after the kill
  const [a, b] = [(z0 - t.kill.at) / 1000, (z1 - t.kill.at) / 1000];
  const tick = niceStep(b - a, 10);
  for (let v = Math.ceil(a / tick) * tick; v <= b + 1e-9; v += tick) {
    const tx = x(t.kill.at + v * 1000);
    out.push(`<line x1="${tx.toFixed(1)}" x2="${tx.toFixed(1)}" y1="${panelBottom}" y2="${panelBottom + 4}" stroke="#999"/>`);
    out.push(`<text x="${tx.toFixed(1)}" y="${panelBottom + 16}" text-anchor="middle">${Number(v.toFixed(3))}</text>`);
  }
  out.push(`<text x="${LEFT + pw / 2}" y="${panelBottom + 32}" text-anchor="middle">seconds after the kill</text>`);
  // legend: marks with their times after the kill
  shown.forEach((m, i) => {
    const lx = LEFT + (i % 2) * (pw / 2), ly = legendTop + Math.floor(i / 2) * 16;
    const rel = m.at === t.kill.at ? `${((m.at - t0) / 1000).toFixed(2)} s into the run` : `+${((m.at - t.kill.at) / 1000).toFixed(2)} s`;
    out.push(`<line x1="${lx}" x2="${lx + 22}" y1="${ly - 4}" y2="${ly - 4}" stroke="${m.color}" stroke-width="2"${m.dash ? ` stroke-dasharray="${m.dash}"` : ''}/>`);
    out.push(`<text x="${lx + 28}" y="${ly}">${esc(`${m.label}: ${rel}`)}</text>`);
  });
  const ly = legendTop + Math.ceil(shown.length / 2) * 16 + 8;
  out.push(`<line x1="${LEFT}" x2="${LEFT}" y1="${ly - 9}" y2="${ly + 1}" stroke="${FULL}" stroke-width="2"/><text x="${LEFT + 8}" y="${ly}">a step applied with all ${s.peers} peers</text>`);
  out.push(`<line x1="${LEFT + pw / 2}" x2="${LEFT + pw / 2}" y1="${ly - 9}" y2="${ly + 1}" stroke="${DEGRADED}" stroke-width="2"/><text x="${LEFT + pw / 2 + 8}" y="${ly}">a step applied by the survivors only</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
