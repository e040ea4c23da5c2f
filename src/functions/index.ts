// spirt/functions: one stateless handler per task state of the epoch state machine
// (src/orchestrate/epoch.asl.json). The same functions run as AWS Lambda handlers (`handler(event)`, the
// event being the state's input) and as local task handlers under aws-local-stepfunctions. They keep no
// state between calls but caches: connections per database URL, the dataset and the model.
export { membership } from './membership';
export { computeGradient } from './gradient';
export { exchange } from './exchange';
export { aggregate } from './aggregate';
export { update } from './update';
export { convergence } from './convergence';
export { recover } from './recover';
export type { StepEvent, MembershipResult, GradientEvent, GradientResult, ExchangeEvent, StateMetrics } from './event';
export type { RecoverEvent } from './recover';
export type { RunConfig, View, PeerAddress, PeerState } from '../peer/protocol';
