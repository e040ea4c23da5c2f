// The chart of `spirt bench scaling`: SPIRT's figure, time per epoch against batch size, one line per peer
// count, one panel per gradient-function count; the model's dedicated-core prediction beside each line.
import type { ScalingBenchResult } from './scaling';
import { Series, lineChartSvg } from './svg';

const COLORS = ['#1b9e77', '#d95f02', '#7570b3', '#e7298a', '#66a61e', '#e6ab02'];

export function scalingSvg(r: ScalingBenchResult): string {
  const panels = r.settings.functions.map((k) => ({
    title: `${k} function${k === 1 ? '' : 's'} per peer`,
    series: r.settings.peers.flatMap((p, i): Series[] => [
      {
        label: `${p} peer${p === 1 ? '' : 's'}`, color: COLORS[i % COLORS.length],
        points: r.grid.filter((g) => g.peers === p && g.functions === k).map((g) => ({ x: g.batch, y: g.epochSeconds * 1000 })),
      },
    ]),
  }));
  return lineChartSvg(
    `Time per epoch (${r.settings.trainLimit} Fashion-MNIST samples, ${r.settings.model}), measured on ${r.machine.cores} shared cores`,
    panels, 'batch size per function', 'time per epoch');
}
