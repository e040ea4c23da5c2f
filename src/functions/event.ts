// The input and output of every task state of the epoch state machine (src/orchestrate/epoch.asl.json).
import { RunConfig, View } from '../peer/protocol';
import { Position } from '../peer/view';

/** What flows from state to state: the run, which peer, its view and the step it is at. */
export interface StepEvent {
  config: RunConfig;
  peer: number;
  view: View;
  position: Position;
  /** sha256 of parameters and velocity after the step (Update sets it when the run asks for digests) */
  digest?: string;
  /** mean training loss of the step's minibatches (set by Exchange) */
  loss?: number;
  /** the last state's measurements (waiting time, bytes it sent) */
  metrics?: StateMetrics;
  /** set by Convergence (and Recover) when the epoch is over */
  epochDone?: boolean;
  /** test accuracy and loss after the epoch, when it is over */
  evaluation?: { accuracy: number; loss: number } | null;
}

export interface StateMetrics {
  /** time blocked on other peers (TENSOR.WAIT) */
  waitMs: number;
  /** bytes this peer copied into other peers' databases */
  bytesSent: number;
}

/** Membership's output: the event plus the gradient functions to fan out to (the Map state's items). */
export interface MembershipResult extends StepEvent {
  workers: number[];
}

/** One gradient function's input (a Map iteration) and output. */
export interface GradientEvent {
  config: RunConfig;
  peer: number;
  view: View;
  position: Position;
  worker: number;
}
export interface GradientResult {
  worker: number;
  loss: number;
  samples: number;
}

/** Exchange's input: the event with the Map's results beside it. */
export interface ExchangeEvent extends StepEvent {
  gradients: GradientResult[];
}

export const noMetrics: StateMetrics = { waitMs: 0, bytesSent: 0 };
