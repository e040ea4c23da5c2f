// `spirt peer`
import fs from 'node:fs';
import { ArgumentError } from '../errors';
import { CliCommand, numberOption, parseOptions } from './command';
import { TRAINING_HELP, TRAINING_OPTIONS, trainingOptions } from './peerOptions';

export const peerCommand: CliCommand = {
  name: 'peer',
  summary: 'run one peer of a peer-to-peer training (for several machines; spirt train starts them all locally)',
  help: `usage: spirt peer --id I --peers URL0,URL1,... [--redis URL] [--join] [options]

Runs peer I of a training whose peers' databases are URL0, URL1, ... (redis:// or rediss:// URLs with
credentials, each a Redis with the spirt module). Every peer of the group runs this command with the same
list and options; they check each other, agree on the model and train together, one state machine
execution per epoch. With --join it joins a running group instead (a replacement or a new peer).

options:
  --id I                this peer's index in --peers
  --peers LIST          every peer's database URL, comma-separated
  --redis URL           this peer's database as this machine reaches it (default: the I-th of --peers)
  --join                join a running group at its next step boundary
  --report FORMAT       text (default) or jsonl (one JSON record per line, for tools)
${TRAINING_HELP}  -h, --help            this help
`,
  async run(argv) {
    const args = parseOptions(this, argv, {
      id: { type: 'string' }, peers: { type: 'string' }, redis: { type: 'string' }, join: { type: 'boolean' },
      report: { type: 'string' }, config: { type: 'string' }, ...TRAINING_OPTIONS,
    });
    if (!args) return 0;
    const v = args.values;
    const id = numberOption(v.id, 'id');
    if (id === undefined) throw new ArgumentError('ERR_ARGUMENT', '--id is required');
    const { runConfig } = await import('../peer/config');
    const { runPeer } = await import('../peer/peer');
    let config;
    if (v.config) {
      config = JSON.parse(fs.readFileSync(v.config, 'utf8'));
    } else {
      if (!v.peers) throw new ArgumentError('ERR_ARGUMENT', '--peers is required');
      const urls = v.peers.split(',');
      if (!Number.isInteger(id) || id < 0 || id >= urls.length) throw new ArgumentError('ERR_ARGUMENT', `--id ${id} is not an index of the ${urls.length} --peers`);
      if (v.redis) urls[id] = v.redis;
      config = runConfig({ ...trainingOptions(v), urls, runId: 'cli' });
    }
    const jsonl = v.report === 'jsonl';
    if (v.report !== undefined && v.report !== 'jsonl' && v.report !== 'text') throw new ArgumentError('ERR_ARGUMENT', '--report must be text or jsonl');
    const state = await runPeer({
      config, id, join: v.join ?? false,
      report: (r) => {
        if (jsonl) process.stdout.write(`${JSON.stringify(r)}\n`);
        else if (r.type === 'epoch') process.stdout.write(`peer ${id}: epoch ${r.epoch + 1}: test accuracy ${(r.accuracy * 100).toFixed(2)}% (${r.seconds.toFixed(1)} s)\n`);
        else if (r.type === 'view') process.stdout.write(`peer ${id}: view ${r.view.number}: members ${r.view.members.join(', ')} from step ${r.view.startStep}\n`);
        else if (r.type === 'rejoin') process.stdout.write(`peer ${id}: rejoining: ${r.reason}\n`);
      },
    });
    if (!jsonl) process.stdout.write(`peer ${id}: done after step ${state.step}, state sha256 ${state.digest}\n`);
    return 0;
  },
};
