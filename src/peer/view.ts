// View change: the survivors of view n agree on view n+1 with no coordinator. Each writes a proposal (the
// peers it suspects, the joiners it saw, where its training stands) into its own database and reads the
// others'. Proposals only grow by union, so they converge; a peer installs view n+1 when every survivor's
// proposal equals its own. A suspect may be added only while some survivor's proposal is still missing or
// different, so no peer can have installed the smaller set. The new view starts after the furthest step any
// survivor applied; a survivor one step behind copies that state from a donor (see recovery.ts).
import { OutOfViewError, PeerFailedError } from '../errors';
import { peerDb } from './db';
import { inspect } from './liveness';
import { PeerState, RunConfig, View, addressOf, keys } from './protocol';

export interface Proposal {
  /** the view proposed: base view's number + 1 */
  number: number;
  suspects: number[];
  joiners: number[];
  /** the joiners' request nonces */
  admitted: Record<number, string>;
  /** the proposer's state: the last step it applied */
  state: PeerState;
  /** the position after that step */
  next: Position;
}

export interface Position {
  step: number;
  epoch: number;
  stepInEpoch: number;
}

const sorted = (s: Iterable<number>) => [...new Set(s)].sort((a, b) => a - b);
const same = (a: Proposal, b: Proposal) =>
  a.number === b.number && a.suspects.join() === b.suspects.join() && a.joiners.join() === b.joiners.join();

/** The plan (members whose shards the epoch trains on) for `epoch` under `view`. */
export function planOf(view: View, epoch: number): number[] {
  return view.epoch === epoch ? view.planMembers : view.members;
}

export interface ViewChangeInput {
  config: RunConfig;
  self: number;
  current: View;
  suspects: number[];
  joiners: number[];
  admitted: Record<number, string>;
  state: PeerState;
  next: Position;
}

/** Runs the protocol to its end: resolves to the installed view, or throws OutOfViewError if this peer is not in it. */
export async function agreeOnView(input: ViewChangeInput): Promise<View> {
  const { config, self, current } = input;
  const own = await peerDb(addressOf(config, self).url, 'data', config.heartbeatMs);
  let mine: Proposal = { number: current.number + 1, suspects: sorted(input.suspects), joiners: sorted(input.joiners), admitted: input.admitted, state: input.state, next: input.next };
  const deadline = Date.now() + Math.max(60_000, 300 * config.heartbeatMs);
  let written: Proposal | null = null;
  for (;;) {
    if (!written || !same(written, mine)) {
      await own.setJson(keys.proposal(self), mine);
      written = mine;
    }
    const survivors = current.members.filter((m) => m !== self && !mine.suspects.includes(m));
    const reports = await Promise.all(survivors.map((m) => inspect(config, m)));
    // someone already installed the view: adopt it (it is the agreed one)
    const installed = reports.find((r) => r.view && r.view.number >= mine.number)?.view;
    if (installed) return adopt(input, installed, own);
    let grown = mine;
    let allMatch = true;
    for (const r of reports) {
      const p = r.proposal;
      if (p && p.number === mine.number) {
        if (p.suspects.includes(self)) throw new OutOfViewError('ERR_OUT_OF_VIEW', `peer ${r.peer} suspects peer ${self}: it must rejoin`);
        grown = { ...grown, suspects: sorted([...grown.suspects, ...p.suspects]), joiners: sorted([...grown.joiners, ...p.joiners]), admitted: { ...p.admitted, ...grown.admitted } };
        if (!same(p, mine)) allMatch = false;
      } else {
        allMatch = false;
        // a survivor that has not answered with a matching proposal may still fail
        if (!r.alive) grown = { ...grown, suspects: sorted([...grown.suspects, r.peer]) };
      }
    }
    if (!same(grown, mine)) {
      mine = grown;
      continue;
    }
    if (allMatch) {
      const all = [mine, ...reports.map((r) => r.proposal as Proposal)];
      const furthest = all.reduce((a, b) => (b.state.step > a.state.step ? b : a));
      const members = sorted([...current.members.filter((m) => !mine.suspects.includes(m)), ...mine.joiners]);
      if (members.length === 0) throw new PeerFailedError(mine.suspects, 'no member left');
      const { epoch, stepInEpoch, step } = furthest.next;
      const view: View = {
        number: mine.number, members, startStep: step, epoch, stepInEpoch,
        planMembers: stepInEpoch === 0 ? members : planOf(current, epoch),
        admitted: { ...current.admitted, ...mine.admitted },
      };
      await own.setJson(keys.view(self), view);
      return view;
    }
    if (Date.now() > deadline) throw new PeerFailedError(mine.suspects, `view ${mine.number} not agreed within ${Math.round((deadline - Date.now()) / 1000)} s`);
    await new Promise((r) => setTimeout(r, Math.max(5, config.heartbeatMs / 8)));
  }
}

async function adopt(input: ViewChangeInput, view: View, own: Awaited<ReturnType<typeof peerDb>>): Promise<View> {
  if (!view.members.includes(input.self)) {
    throw new OutOfViewError('ERR_OUT_OF_VIEW', `view ${view.number} (${view.members.join(', ')}) excludes peer ${input.self}: it must rejoin`);
  }
  await own.setJson(keys.view(input.self), view);
  return view;
}
