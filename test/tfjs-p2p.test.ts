// Issue 16's peer-to-peer TensorFlow.js example, run as written: `sh examples/tfjs-p2p/train.sh` starts two peer
// processes with private redis-servers, and they train examples/tfjs-p2p/model.js (a tfjs model on the pure JS
// CPU backend) on real Fashion-MNIST through the peer runtime. Runs the built package (`npm run build`).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(__dirname, '..');
const example = path.join(root, 'examples', 'tfjs-p2p');
const RUN_LIMIT_MS = 240_000;

interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/**
 * Runs a command in its own process group to its end. Past `limitMs` the whole group gets SIGTERM (`spirt train`
 * then stops its peers and servers), and SIGKILL 10 s later if anything is left.
 */
function runBounded(command: string, args: string[], limitMs: number): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: root, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '', timedOut = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-8000)));
    const killGroup = (signal: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, signal);
      } catch {
        // the group is gone already
      }
    };
    let hardKill: NodeJS.Timeout | undefined;
    const limit = setTimeout(() => {
      timedOut = true;
      killGroup('SIGTERM');
      hardKill = setTimeout(() => killGroup('SIGKILL'), 10_000);
    }, limitMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(limit);
      clearTimeout(hardKill);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

interface Summary {
  config: { model: unknown; roster: unknown[]; batch: number; functions: number; epochs: number; trainLimit?: number };
  epochs: Array<{ epoch: number; accuracy: number; loss: number; steps: number }>;
  peers: Array<{ peer: number; step: number; digest: string }>;
  identical: boolean;
  violations: string[];
}

describe('examples/tfjs-p2p: a TensorFlow.js model trained peer-to-peer by two peers', () => {
  test('is printed whole in the README, model module and command', () => {
    const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
    expect(readme).toContain('```js\n' + fs.readFileSync(path.join(example, 'model.js'), 'utf8') + '```\n');
    const command = fs.readFileSync(path.join(example, 'train.sh'), 'utf8').match(/^exec (npx spirt train .*) "\$@"$/m)![1];
    expect(readme).toContain(command.replace('"$(dirname "$0")/model.js"', 'examples/tfjs-p2p/model.js'));
  });

  test('reaches at least 80% test accuracy on the whole test set, and both peers end identical', async () => {
    const summaryFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'spirt-tfjs-p2p-')), 'summary.json');
    try {
      const run = await runBounded('sh', [path.join(example, 'train.sh'), '--json', summaryFile], RUN_LIMIT_MS);
      expect({ timedOut: run.timedOut, code: run.code, signal: run.signal }).toEqual({ timedOut: false, code: 0, signal: null });
      expect(run.stdout).toMatch(/^peer-to-peer training: 2 peers x 2 functions x batch 64, 101770 parameters, 117 steps per epoch$/m);
      expect(run.stdout).toMatch(/^all peers hold identical parameters and optimizer state$/m);

      const summary = JSON.parse(fs.readFileSync(summaryFile, 'utf8')) as Summary;
      expect(summary.config).toMatchObject({ model: { module: path.join(example, 'model.js') }, epochs: 2, trainLimit: 30000 });
      expect(summary.config.roster).toHaveLength(2);
      expect(summary.epochs.map((e) => [e.epoch, e.steps])).toEqual([[0, 117], [1, 117]]);
      expect(summary.epochs[1].accuracy).toBeGreaterThanOrEqual(0.8);
      expect(summary.epochs[1].loss).toBeLessThan(summary.epochs[0].loss);
      expect(summary.violations).toEqual([]);
      expect(summary.identical).toBe(true);
      expect(summary.peers.map((p) => [p.peer, p.step])).toEqual([[0, 233], [1, 233]]);
      expect(summary.peers[0].digest).toBe(summary.peers[1].digest);
    } finally {
      fs.rmSync(path.dirname(summaryFile), { recursive: true, force: true });
    }
  }, RUN_LIMIT_MS + 20_000);
});
