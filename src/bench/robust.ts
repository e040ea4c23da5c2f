// `spirt bench robust`: how much accuracy each aggregation rule keeps when f of the peers are Byzantine. Every
// cell of the grid (rule x attack x f) is one whole peer-to-peer training (`trainPeers`: private servers, ACL,
// signed gradients): the attackers are insiders, so their crafted gradients are correctly signed and verified.
import fs from 'node:fs';
import os from 'node:os';
import { ArgumentError } from '../errors';
import { TrainSummary, trainPeers } from '../peer/launcher';
import { AggregationRule, Attack } from '../peer/protocol';
import { VerifyStats } from '../security/signing';
import { requireInteger, requireNumber } from '../validate';
import { spirtVersion } from '../version';
import { ROBUST_BENCH_DEFAULTS as D } from './defaults';
import { resultFiles } from './common';

export type RuleName = AggregationRule['name'];
export const RULE_NAMES: readonly RuleName[] = ['mean', 'median', 'trimmed', 'krum', 'cclip'];
export const ATTACKS: readonly Attack[] = ['sign-flip', 'gaussian', 'scaled', 'label-flip', 'alie'];

export interface RobustBenchOptions {
  peers?: number;
  /** numbers of Byzantine peers; peers 0 .. f-1 attack */
  byzantine?: number[];
  attacks?: Attack[];
  rules?: RuleName[];
  epochs?: number;
  batch?: number;
  functions?: number;
  lr?: number;
  momentum?: number;
  trainLimit?: number;
  testLimit?: number;
  tau?: number;
  cclipIterations?: number;
  heartbeatMs?: number;
  seed?: number;
  /** Fashion-MNIST directory (default: the runtime's) */
  data?: string;
  outDir?: string;
  log?: (line: string) => void;
}

export interface RobustCell {
  rule: RuleName;
  /** 'none' for the clean runs (f = 0) */
  attack: Attack | 'none';
  f: number;
  byzantinePeers: number[];
  /** test accuracy after the last epoch (0..1); null when the run failed */
  accuracy: number | null;
  epochs: Array<{ accuracy: number; loss: number }>;
  seconds: number;
  /** gradient messages the receiving modules verified or refused, over all epochs: attackers' included */
  verification: VerifyStats | null;
  /**
   * membership views the run went through; more than one with `fullMembership` is a recovery with the same
   * members (a step redone from a donor's state, see the README), which changes nothing in what is computed
   */
  views: number;
  /** every step was taken by every peer: no peer was declared failed and left out */
  fullMembership: boolean;
  /** the live peers ended with the same parameters (the rule gave every peer the same bytes) */
  identical: boolean;
  error?: string;
}

/** Per attack and f > 0: the best rule other than mean against the clean run of mean. */
export interface RobustHeadline {
  attack: Attack;
  f: number;
  bestRule: RuleName | null;
  bestAccuracy: number | null;
  meanAccuracy: number | null;
  /** points (percent) below the clean accuracy */
  bestDropPoints: number | null;
  meanDropPoints: number | null;
  /** the best robust rule within 2 points of the clean accuracy */
  withinTwoPoints: boolean | null;
}

export interface RobustBenchResult {
  date: string;
  spirt: { version: string };
  machine: { cpu: string; cores: number; memoryGiB: number; platform: string; node: string; loadAverage: number[] };
  settings: Required<Omit<RobustBenchOptions, 'log' | 'outDir' | 'data'>>;
  /** the parameters each rule ran with (the defender's bound F = the largest f of the grid) */
  rules: Record<string, AggregationRule>;
  /** mean's accuracy with no attacker: what the goal compares against */
  cleanAccuracy: number | null;
  cells: RobustCell[];
  headlines: RobustHeadline[];
  seconds: number;
  files: { json: string; svg: string };
}

function oneOf<T extends string>(values: readonly T[] | undefined, known: readonly T[], option: string, fallback: readonly T[]): T[] {
  const list = [...(values ?? fallback)];
  if (list.length === 0) throw new ArgumentError('ERR_ARGUMENT', `--${option}: name at least one`);
  for (const v of list) if (!known.includes(v)) throw new ArgumentError('ERR_ARGUMENT', `--${option}: unknown '${String(v)}' (${known.join(', ')})`);
  if (new Set(list).size !== list.length) throw new ArgumentError('ERR_ARGUMENT', `--${option}: a value is named twice`);
  return list;
}

/**
 * The rule as the grid runs it, configured for F Byzantine peers out of n: trimmed drops F at each end, Krum
 * tolerates F (at most (n-3)/2, its limit) and averages the n - F best (Multi-Krum), centered clipping uses tau.
 */
export function ruleFor(name: RuleName, n: number, maxF: number, tau: number, cclipIterations: number): AggregationRule {
  switch (name) {
    case 'mean':
    case 'median':
      return { name };
    case 'trimmed':
      return { name, trim: Math.min(maxF, Math.floor((n - 1) / 2)) };
    case 'krum':
      if (n < 3) throw new ArgumentError('ERR_ARGUMENT', `krum needs at least 3 peers, got ${n}`);
      return { name, f: Math.min(maxF, Math.floor((n - 3) / 2)), multi: Math.max(1, n - maxF) };
    case 'cclip':
      return { name, tau, iterations: cclipIterations };
  }
}

function settingsOf(o: RobustBenchOptions): RobustBenchResult['settings'] {
  const peers = requireInteger(o.peers ?? D.peers, 'peers', 2);
  const byzantine = [...(o.byzantine ?? D.byzantine)];
  if (byzantine.length === 0) throw new ArgumentError('ERR_ARGUMENT', '--byzantine: name at least one f');
  for (const f of byzantine) {
    requireInteger(f, 'byzantine', 0);
    // an honest majority is what every rule here assumes
    if (2 * f >= peers) throw new ArgumentError('ERR_ARGUMENT', `--byzantine: ${f} of ${peers} peers is no honest majority`);
  }
  if (new Set(byzantine).size !== byzantine.length) throw new ArgumentError('ERR_ARGUMENT', '--byzantine: a value is named twice');
  return {
    peers,
    byzantine: byzantine.sort((a, b) => a - b),
    attacks: oneOf(o.attacks, ATTACKS, 'attack', D.attacks),
    rules: oneOf(o.rules, RULE_NAMES, 'rule', D.rules),
    epochs: requireInteger(o.epochs ?? D.epochs, 'epochs', 1),
    batch: requireInteger(o.batch ?? D.batch, 'batch', 1),
    functions: requireInteger(o.functions ?? D.functions, 'functions', 1),
    lr: requireNumber(o.lr ?? D.lr, 'lr', { min: 0 }),
    momentum: requireNumber(o.momentum ?? D.momentum, 'momentum', { min: 0 }),
    trainLimit: requireInteger(o.trainLimit ?? D.trainLimit, 'trainLimit', 1),
    testLimit: requireInteger(o.testLimit ?? D.testLimit, 'testLimit', 1),
    tau: requireNumber(o.tau ?? D.tau, 'tau', { min: 0 }),
    cclipIterations: requireInteger(o.cclipIterations ?? D.cclipIterations, 'cclipIterations', 1),
    heartbeatMs: requireNumber(o.heartbeatMs ?? D.heartbeatMs, 'heartbeatMs', { min: 10 }),
    seed: requireInteger(o.seed ?? D.seed, 'seed', 0),
  };
}

function sumVerification(summary: TrainSummary): VerifyStats | null {
  const present = summary.epochs.map((e) => e.verification).filter((v): v is VerifyStats => v !== null);
  if (!present.length) return null;
  const out: VerifyStats = { verified: 0, unsigned: 0, tampered: 0, wrongSigner: 0, replay: 0, malformed: 0 };
  for (const v of present) for (const k of Object.keys(out) as Array<keyof VerifyStats>) out[k] += v[k];
  return out;
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

export async function runRobustBench(o: RobustBenchOptions = {}): Promise<RobustBenchResult> {
  const s = settingsOf(o);
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const maxF = Math.max(...s.byzantine);
  const rules = Object.fromEntries(s.rules.map((r) => [r, ruleFor(r, s.peers, maxF, s.tau, s.cclipIterations)])) as Record<RuleName, AggregationRule>;
  // the clean run does not depend on the attack: one per rule
  const plan = columnsOf(s).flatMap(({ f, attack }) => s.rules.map((rule) => ({ f, attack, rule })));
  const started = Date.now();
  const cells: RobustCell[] = [];
  for (const [i, { f, attack, rule }] of plan.entries()) {
    const byzantinePeers = Array.from({ length: f }, (_, p) => p);
    const t0 = Date.now();
    const cell: RobustCell = {
      rule, attack, f, byzantinePeers, accuracy: null, epochs: [], seconds: 0, verification: null, views: 0, fullMembership: false, identical: false,
    };
    try {
      const summary = await trainPeers({
        peers: s.peers, rule: rules[rule], epochs: s.epochs, batch: s.batch, functions: s.functions, lr: s.lr, momentum: s.momentum,
        trainLimit: s.trainLimit, testLimit: s.testLimit, heartbeatMs: s.heartbeatMs, seed: s.seed, ...(o.data ? { data: o.data } : {}),
        ...(attack === 'none' ? {} : { byzantine: { peers: byzantinePeers, attack } }),
      });
      cell.epochs = summary.epochs.map((e) => ({ accuracy: e.accuracy, loss: e.loss }));
      cell.accuracy = summary.epochs.at(-1)?.accuracy ?? null;
      cell.verification = sumVerification(summary);
      cell.views = summary.views;
      cell.fullMembership = summary.steps.every((step) => step.members.length === s.peers);
      cell.identical = summary.identical;
    } catch (e) {
      cell.error = (e as Error).message;
    }
    cell.seconds = (Date.now() - t0) / 1000;
    cells.push(cell);
    const outcome = cell.accuracy === null ? `FAILED: ${cell.error}`
      : `accuracy ${pct(cell.accuracy)}${cell.fullMembership ? '' : ' (a peer was declared failed and left the view)'}${cell.views > 1 ? ` (${cell.views} views)` : ''}`;
    log(`[${String(i + 1).padStart(String(plan.length).length)}/${plan.length}] f=${f} ${attack.padEnd(10)} ${rule.padEnd(7)}: ${outcome} in ${cell.seconds.toFixed(0)} s`);
  }

  const accuracyOf = (rule: RuleName, attack: Attack | 'none', f: number) => cells.find((c) => c.rule === rule && c.attack === attack && c.f === f)?.accuracy ?? null;
  const cleanAccuracy = accuracyOf('mean', 'none', 0);
  const drop = (a: number | null) => (a === null || cleanAccuracy === null ? null : (cleanAccuracy - a) * 100);
  const headlines = s.byzantine.filter((f) => f > 0).flatMap((f) => s.attacks.map((attack): RobustHeadline => {
    let bestRule: RuleName | null = null, bestAccuracy: number | null = null;
    for (const rule of s.rules) {
      const a = accuracyOf(rule, attack, f);
      if (rule !== 'mean' && a !== null && (bestAccuracy === null || a > bestAccuracy)) [bestRule, bestAccuracy] = [rule, a];
    }
    const bestDropPoints = drop(bestAccuracy);
    return {
      attack, f, bestRule, bestAccuracy, meanAccuracy: accuracyOf('mean', attack, f), bestDropPoints,
      meanDropPoints: drop(accuracyOf('mean', attack, f)), withinTwoPoints: bestDropPoints === null ? null : bestDropPoints <= 2,
    };
  }));

  const files = resultFiles(o.outDir ?? D.outDir, 'robust');
  const result: RobustBenchResult = {
    date: new Date().toISOString(),
    spirt: { version: spirtVersion },
    machine: {
      cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      platform: `${os.platform()} ${os.arch()}`, node: process.version, loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
    },
    settings: s, rules, cleanAccuracy, cells, headlines, seconds: (Date.now() - started) / 1000, files,
  };
  fs.writeFileSync(files.svg, robustHeatMapSvg(result));
  fs.writeFileSync(files.json, `${JSON.stringify(result, null, 2)}\n`);
  return result;
}

interface Column {
  attack: Attack | 'none';
  f: number;
}

/** The grid's columns: the clean run, then every attack at every f > 0. */
function columnsOf(s: { byzantine: number[]; attacks: Attack[] }): Column[] {
  return s.byzantine.flatMap((f): Column[] => (f === 0 ? [{ attack: 'none', f }] : s.attacks.map((attack) => ({ attack, f }))));
}

const columnTitle = (c: Column) => (c.f === 0 ? 'clean' : `${c.attack} f=${c.f}`);
const ruleTitle = (rule: AggregationRule) => {
  if (rule.name === 'trimmed') return `trimmed (k=${rule.trim})`;
  if (rule.name === 'krum') return `krum (f=${rule.f}, m=${rule.multi})`;
  if (rule.name === 'cclip') return `cclip (tau=${rule.tau}, l=${rule.iterations})`;
  return rule.name;
};

/** The accuracy table as Markdown: one row per rule, one column per clean run or attack and f. */
export function formatRobustTable(r: RobustBenchResult): string {
  const columns = columnsOf(r.settings);
  const head = ['rule', ...columns.map(columnTitle)];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const name of r.settings.rules) {
    const row = columns.map((c) => {
      const cell = r.cells.find((x) => x.rule === name && x.attack === c.attack && x.f === c.f);
      return cell?.accuracy === null || cell === undefined ? 'failed' : `${pct(cell.accuracy)}${marks(cell)}`;
    });
    lines.push(`| ${[ruleTitle(r.rules[name]), ...row].join(' | ')} |`);
  }
  const notes = footnotes(r.cells);
  if (notes.length) lines.push('', ...notes.map((n) => n.replace(/^\*/, '\\*')).join('\n\n').split('\n'));
  return lines.join('\n');
}

/** * a peer left the view; † the peers ended the run with different parameters (the accuracy is one peer's) */
function marks(c: RobustCell): string {
  return `${c.fullMembership ? '' : '*'}${c.identical ? '' : '†'}`;
}

function footnotes(cells: RobustCell[]): string[] {
  const ran = cells.filter((c) => c.accuracy !== null);
  return [
    ...(ran.some((c) => !c.fullMembership) ? ['* a peer was declared failed during the run and left the view: not comparable'] : []),
    ...(ran.some((c) => !c.identical) ? ['† the peers ended with different parameters: the accuracy is the first evaluating peer\'s'] : []),
  ];
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Red at chance (10%) or below, through yellow, to green at the clean accuracy or above. */
function heatColor(accuracy: number, clean: number): string {
  const t = Math.max(0, Math.min(1, (accuracy - 0.1) / Math.max(1e-9, clean - 0.1)));
  const hue = 120 * t;
  return `hsl(${hue.toFixed(0)},70%,${(62 + 10 * Math.sin(Math.PI * t)).toFixed(0)}%)`;
}

/** The accuracy grid as an SVG heat map: rules down, clean run and attacks (grouped by f) across. */
export function robustHeatMapSvg(r: RobustBenchResult): string {
  const columns = columnsOf(r.settings);
  const cw = 78, ch = 30, left = 170, top = 78;
  const notes = footnotes(r.cells);
  const width = Math.max(720, left + cw * columns.length + 16), height = top + ch * r.settings.rules.length + 46 + 16 * notes.length;
  const clean = r.cleanAccuracy ?? Math.max(0.11, ...r.cells.map((c) => c.accuracy ?? 0));
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    '<rect width="100%" height="100%" fill="white"/>',
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">Test accuracy under Byzantine peers (${r.settings.peers} peers, MLP on Fashion-MNIST)</text>`,
  ];
  columns.forEach((c, j) => {
    const x = left + j * cw + cw / 2;
    out.push(`<text x="${x}" y="${top - 24}" text-anchor="middle" font-weight="bold">${esc(c.f === 0 ? 'clean' : c.attack)}</text>`);
    out.push(`<text x="${x}" y="${top - 10}" text-anchor="middle">${c.f === 0 ? 'f=0' : `f=${c.f}`}</text>`);
  });
  r.settings.rules.forEach((name, i) => {
    const y = top + i * ch;
    out.push(`<text x="${left - 8}" y="${y + ch / 2 + 4}" text-anchor="end">${esc(ruleTitle(r.rules[name]))}</text>`);
    columns.forEach((c, j) => {
      const cell = r.cells.find((x) => x.rule === name && x.attack === c.attack && x.f === c.f);
      const x = left + j * cw;
      const fill = cell?.accuracy === null || cell === undefined ? '#bbb' : heatColor(cell.accuracy, clean);
      const label = cell?.accuracy === null || cell === undefined ? 'failed' : `${pct(cell.accuracy)}${marks(cell)}`;
      out.push(`<rect class="cell" x="${x}" y="${y}" width="${cw}" height="${ch}" fill="${fill}" stroke="white"/>`);
      out.push(`<text x="${x + cw / 2}" y="${y + ch / 2 + 4}" text-anchor="middle">${label}</text>`);
    });
  });
  const s = r.settings;
  out.push(`<text x="12" y="${height - 24}">green: clean accuracy of mean (${r.cleanAccuracy === null ? 'not run' : pct(r.cleanAccuracy)}) or above; red: 10% (chance) or below</text>`);
  notes.forEach((n, i) => out.push(`<text x="12" y="${height - 40 - 16 * i}">${esc(n)}</text>`));
  out.push(`<text x="12" y="${height - 8}">${esc(`${s.epochs} epoch(s) of ${s.trainLimit} samples, ${s.functions} functions x batch ${s.batch} per peer, lr ${s.lr}, momentum ${s.momentum}, ${s.testLimit} test samples`)}</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
