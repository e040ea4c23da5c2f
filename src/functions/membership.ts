// Task state Membership (barrier and heartbeat at every step boundary): publishes the peer's heartbeat,
// checks that every member is alive and in the same view, and answers join requests. Anything that changes
// the view ends the step with ViewChangeError / PeerFailedError, which the state machine routes to Recover.
import { ViewChangeError } from '../errors';
import { beat, guard } from '../peer/liveness';
import { pendingJoins } from '../peer/join';
import { modelFor } from '../peer/training';
import { MembershipResult, StepEvent } from './event';

export async function membership(event: StepEvent): Promise<MembershipResult> {
  const { config, peer, view, position } = event;
  await beat(config, peer, view.number, position.step);
  await guard(config, peer, view);
  const { accepted } = await pendingJoins(config, peer, view, (await modelFor(config)).paramCount);
  if (accepted.length) throw new ViewChangeError('ERR_VIEW_CHANGE', `peer(s) ${accepted.join(', ')} ask to join`);
  return { ...event, epochDone: false, evaluation: null, metrics: { waitMs: 0, bytesSent: 0 }, workers: Array.from({ length: config.functions }, (_, k) => k) };
}

export const handler = membership;
