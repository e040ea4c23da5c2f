// Task state Convergence: moves to the next step; at the end of the epoch evaluates the parameters on the
// test set and tells the state machine (its Choice state) that the epoch is over.
import { stepsPerEpoch } from '../peer/training';
import { RunConfig, View } from '../peer/protocol';
import { Position } from '../peer/view';
import { StepEvent } from './event';
import { evaluatePeer } from './evaluation';

/** The position after `p`: the next step of the epoch, or the first of the next epoch. */
export function advance(config: RunConfig, view: View, p: Position): Position {
  const last = p.stepInEpoch + 1 >= stepsPerEpoch(config, view, p.epoch);
  return { step: p.step + 1, epoch: last ? p.epoch + 1 : p.epoch, stepInEpoch: last ? 0 : p.stepInEpoch + 1 };
}

export async function convergence(event: StepEvent): Promise<StepEvent> {
  const { config, peer, view, position } = event;
  const next = advance(config, view, position);
  const epochDone = next.epoch !== position.epoch;
  return {
    ...event, position: next, epochDone, metrics: { waitMs: 0, bytesSent: 0 },
    evaluation: epochDone ? await evaluatePeer(config, peer) : null,
  };
}

export const handler = convergence;
