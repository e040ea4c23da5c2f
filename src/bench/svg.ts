// A small dependency-free SVG line chart: panels side by side (one per model size or optimizer), time (log scale)
// against peers or parameter count (log scale).

export interface Series {
  label: string;
  color: string;
  points: Array<{ x: number; y: number }>;
}

export interface Panel {
  title: string;
  series: Series[];
}

const W = 340, H = 260, M = { left: 58, right: 12, top: 34, bottom: 42 };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function niceLogTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= min / 1.01 && v <= max * 1.01) ticks.push(v);
    }
  }
  return ticks;
}

function fmtMs(v: number): string {
  return v >= 1000 ? `${v / 1000} s` : `${v} ms`;
}

/** Panels side by side sharing one y range; x is log2 (peer or parameter counts, labelled by formatX), y is log10 (milliseconds). */
export function lineChartSvg(title: string, panels: Panel[], xLabel: string, yLabel: string, formatX: (x: number) => string = String): string {
  const all = panels.flatMap((p) => p.series.flatMap((s) => s.points));
  const xs = all.map((p) => p.x), ys = all.map((p) => p.y).filter((y) => y > 0);
  const [xmin, xmax] = [Math.min(...xs), Math.max(...xs)];
  const [ymin, ymax] = [Math.min(...ys) / 1.5, Math.max(...ys) * 1.5];
  const pw = W - M.left - M.right, ph = H - M.top - M.bottom;
  const sx = (x: number) => M.left + (xmax === xmin ? pw / 2 : ((Math.log2(x) - Math.log2(xmin)) / (Math.log2(xmax) - Math.log2(xmin))) * pw);
  const sy = (y: number) => M.top + ph - ((Math.log10(y) - Math.log10(ymin)) / (Math.log10(ymax) - Math.log10(ymin))) * ph;
  const legend = panels[0]?.series ?? [];
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W * panels.length}" height="${H + 40}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${(W * panels.length) / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`,
  ];
  panels.forEach((panel, i) => {
    out.push(`<g transform="translate(${i * W},16)">`);
    out.push(`<text x="${M.left + pw / 2}" y="${M.top - 10}" text-anchor="middle" font-weight="bold">${esc(panel.title)}</text>`);
    out.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
    for (const t of niceLogTicks(ymin, ymax)) {
      out.push(`<line x1="${M.left}" x2="${M.left + pw}" y1="${sy(t)}" y2="${sy(t)}" stroke="#eee"/>`);
      out.push(`<text x="${M.left - 4}" y="${sy(t) + 4}" text-anchor="end">${fmtMs(t)}</text>`);
    }
    for (const x of [...new Set(xs)].sort((a, b) => a - b)) {
      out.push(`<text x="${sx(x)}" y="${M.top + ph + 14}" text-anchor="middle">${esc(formatX(x))}</text>`);
    }
    out.push(`<text x="${M.left + pw / 2}" y="${M.top + ph + 30}" text-anchor="middle">${esc(xLabel)}</text>`);
    if (i === 0) {
      out.push(`<text transform="translate(12,${M.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`);
    }
    for (const s of panel.series) {
      const pts = s.points.filter((p) => p.y > 0).sort((a, b) => a.x - b.x);
      out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${pts.map((p) => `${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ')}"/>`);
      for (const p of pts) out.push(`<circle cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="3" fill="${s.color}"/>`);
    }
    out.push('</g>');
  });
  legend.forEach((s, i) => {
    const x = 20 + i * 120, y = H + 28;
    out.push(`<line x1="${x}" x2="${x + 20}" y1="${y}" y2="${y}" stroke="${s.color}" stroke-width="3"/>`);
    out.push(`<text x="${x + 26}" y="${y + 4}">${esc(s.label)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
