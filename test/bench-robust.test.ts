import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RobustBenchResult } from '../src/bench/robust';

const root = path.resolve(__dirname, '..');
const cli = path.join(root, 'bin', 'spirt.js');

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'spirt-bench-robust-'));
}

/** The CLI run to its end, bounded: status, stdout and stderr. */
function runCli(args: string[], cwd: string, timeoutMs: number): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], { cwd });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

describe('spirt bench robust', () => {
  test('a tiny grid end to end: clean and attacked runs of mean and median, JSON, table and heat map agree', async () => {
    const cwd = tempDir();
    try {
      const r = await runCli(['bench', 'robust', '--peers', '3', '--byzantine', '0,1', '--attack', 'scaled', '--rule', 'mean,median',
        '--train-limit', '768', '--test-limit', '300', '--batch', '32', '--functions', '2', '--lr', '0.1'], cwd, 170_000);
      expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: expect.stringContaining('[4/4] f=1 scaled     median : accuracy') });
      const out = path.join(cwd, 'spirt-bench');
      const result = JSON.parse(fs.readFileSync(path.join(out, 'robust.json'), 'utf8')) as RobustBenchResult;
      expect(result.files).toEqual({ json: path.join(out, 'robust.json'), svg: path.join(out, 'robust.svg') });
      expect(result.settings).toMatchObject({ peers: 3, byzantine: [0, 1], attacks: ['scaled'], rules: ['mean', 'median'], trainLimit: 768, functions: 2 });
      expect(result.rules).toEqual({ mean: { name: 'mean' }, median: { name: 'median' } });
      expect(result.cells.map((c) => `${c.f} ${c.attack} ${c.rule} ${c.byzantinePeers.join(',')}`)).toEqual(
        ['0 none mean ', '0 none median ', '1 scaled mean 0', '1 scaled median 0']);
      for (const c of result.cells) {
        expect(c.error).toBeUndefined();
        expect(c.accuracy).toBe(c.epochs.at(-1)!.accuracy);
        expect(c.accuracy).toBeGreaterThanOrEqual(0);
        expect(c.accuracy).toBeLessThanOrEqual(1);
        // every gradient crossing peers was signed and verified, the attacker's included: 3 peers x 2 others x steps
        expect(c.verification).toMatchObject({ tampered: 0, wrongSigner: 0, replay: 0, unsigned: 0, malformed: 0 });
        expect(c.verification!.verified).toBeGreaterThan(0);
        expect({ views: c.views, fullMembership: c.fullMembership, identical: c.identical }).toEqual({ views: 1, fullMembership: true, identical: true });
      }
      const acc = (f: number, rule: string) => result.cells.find((c) => c.f === f && c.rule === rule)!.accuracy!;
      expect(result.cleanAccuracy).toBe(acc(0, 'mean'));
      // 100g from one peer of three sends mean's parameters off; the median ignores it
      expect(acc(1, 'mean')).toBeLessThan(acc(1, 'median'));
      expect(result.headlines).toEqual([{
        attack: 'scaled', f: 1, bestRule: 'median', bestAccuracy: acc(1, 'median'), meanAccuracy: acc(1, 'mean'),
        bestDropPoints: (acc(0, 'mean') - acc(1, 'median')) * 100, meanDropPoints: (acc(0, 'mean') - acc(1, 'mean')) * 100,
        withinTwoPoints: (acc(0, 'mean') - acc(1, 'median')) * 100 <= 2,
      }]);

      const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
      expect(r.stdout).toContain('| rule | clean | scaled f=1 |');
      expect(r.stdout).toContain(`| median | ${pct(acc(0, 'median'))} | ${pct(acc(1, 'median'))} |`);
      expect(r.stdout).toContain(`clean accuracy (mean, f=0): ${pct(acc(0, 'mean'))}`);
      expect(r.stdout).toMatch(/scaled f=1: best robust rule median [\d.]+% \(-?[\d.]+ points below clean, (within 2|NOT within 2)\); mean -?[\d.]+ points below clean/);
      expect(r.stdout).toContain(`written: ${result.files.json}, ${result.files.svg}`);

      const svg = fs.readFileSync(result.files.svg, 'utf8');
      expect(svg).toMatch(/^<svg [\s\S]*<\/svg>\n$/);
      expect(svg.match(/<rect class="cell" /g)).toHaveLength(4);
      expect(svg).toContain(`>${pct(acc(1, 'mean'))}</text>`);
      expect(svg).toContain('>scaled</text>');
    } finally {
      fs.rmSync(cwd, { recursive: true, force: true });
    }
  }, 180_000);

  test.each([
    [['--byzantine', '2', '--peers', '4'], '--byzantine: 2 of 4 peers is no honest majority'],
    [['--attack', 'sign-flip,poison'], "--attack: unknown 'poison' (sign-flip, gaussian, scaled, label-flip, alie)"],
    [['--rule', 'mean,mean'], '--rule: a value is named twice'],
    [['--byzantine', '1,-1'], "--byzantine: '-1' is not a whole number"],
    [['--rule', 'krum', '--peers', '2', '--byzantine', '0'], 'krum needs at least 3 peers, got 2'],
  ])('refuses %j before any run starts', (args, message) => {
    const cwd = tempDir();
    try {
      const r = spawnSync(process.execPath, [cli, 'bench', 'robust', ...args], { encoding: 'utf8', cwd, timeout: 30_000 });
      expect({ status: r.status, stderr: r.stderr.trim() }).toEqual({ status: 1, stderr: `spirt: ${message}` });
      expect(fs.existsSync(path.join(cwd, 'spirt-bench'))).toBe(false);
    } finally {
      fs.rmSync(cwd, { recursive: true, force: true });
    }
  });
});
