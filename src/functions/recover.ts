// Task state Recover (the Catch target of every other state): runs a view change with the other survivors
// (src/peer/view.ts), admits joiners, brings this peer's state up to the view's start (copying it from a
// donor if this peer is a step behind) and resumes at the agreed step.
import { beat, inspect } from '../peer/liveness';
import { pendingJoins } from '../peer/join';
import { PeerState } from '../peer/protocol';
import { catchUp, readState } from '../peer/recovery';
import { modelFor } from '../peer/training';
import { agreeOnView } from '../peer/view';
import { advance } from './convergence';
import { StepEvent } from './event';
import { evaluatePeer } from './evaluation';

export interface RecoverEvent extends StepEvent {
  /** what the failed state threw, as the state machine's Catch records it */
  error?: { Error: string; Cause: string };
}

export async function recover(event: RecoverEvent): Promise<StepEvent> {
  const { config, peer, view, position } = event;
  const reports = await Promise.all(view.members.filter((m) => m !== peer).map((m) => inspect(config, m)));
  const { accepted, admitted } = await pendingJoins(config, peer, view, (await modelFor(config)).paramCount);
  // a replacement's old incarnation is gone even if the new one already beats
  const suspects = reports.filter((r) => !r.alive || accepted.includes(r.peer)).map((r) => r.peer);
  const state: PeerState = (await readState(config, peer)) ?? { step: -1, view: view.number, epoch: 0, stepInEpoch: -1, digest: '' };
  // where this peer would go on: after the step it applied last
  const next = state.step >= position.step ? advance(config, view, { step: state.step, epoch: state.epoch, stepInEpoch: state.stepInEpoch }) : position;
  const installed = await agreeOnView({ config, self: peer, current: view, suspects, joiners: accepted, admitted, state, next });
  await catchUp(config, peer, installed, state);
  await beat(config, peer, installed.number, installed.startStep);
  const resumed = { step: installed.startStep, epoch: installed.epoch, stepInEpoch: installed.stepInEpoch };
  const epochDone = resumed.epoch !== position.epoch;
  const { error: _error, ...rest } = event;
  return {
    ...rest, view: installed, position: resumed, epochDone, metrics: { waitMs: 0, bytesSent: 0 },
    evaluation: epochDone ? await evaluatePeer(config, peer) : null,
  };
}

export const handler = recover;
