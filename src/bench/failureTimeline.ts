// The timeline of one peer failure and its recovery, from the peers' records (`spirt bench failure`): the
// kill, the first survivor that detects it, the view without the peer, the replacement's restart, admission
// and state copy, and the first steps back at full speed. A pure function of the records, so it is the same
// whether the records come from a live run or from a saved JSON.
import type { PeerRecord } from '../peer/peer';
import { median } from './common';

/** A record as the benchmark received it: `at` of the peer when it has one, else the arrival time. */
export type TimedRecord = PeerRecord & { receivedAt: number };

export interface Kill {
  peer: number;
  /** when the kill signal was sent (ms since the epoch, this machine's clock, as the peers' `at`) */
  at: number;
  /** the victim's last heartbeat before the kill (its `at`), when it could be read */
  lastBeatAt: number | null;
  /** its redis-server was killed with it */
  server: boolean;
}

/** Global step s is complete when the last member recorded it; its duration runs from step s-1's completion. */
export interface GlobalStep {
  step: number;
  epoch: number;
  stepInEpoch: number;
  members: number[];
  view: number;
  /** completion (ms since the epoch) */
  at: number;
  /** completion minus the previous step's completion (null for the first step) */
  ms: number | null;
}

/** The phases of the recovery, one after the other: they add up to recoveryMs (kill to full speed). */
export interface RecoveryPhases {
  /** kill -> the first survivor enters Recover (starts a view change) */
  detectionMs: number | null;
  /** -> every survivor installed the view without the victim */
  viewChangeMs: number | null;
  /** -> a survivor installed the view that admits the replacement (the survivors train without it meanwhile) */
  degradedMs: number | null;
  /** -> the replacement copied parameters and optimizer state from a donor and verified the digest */
  stateCopyMs: number | null;
  /** -> the first full-membership step within the factor of the pre-failure median, with the median of it and the next FULL_SPEED_RUN - 1 steps within it too */
  backToFullSpeedMs: number | null;
  recoveryMs: number | null;
}

export interface FailureTimeline {
  heartbeatMs: number;
  peers: number;
  kill: Kill;
  /** the step the group completed last before the kill */
  lastStepBeforeKill: number | null;
  detection: null | {
    at: number; peer: number; error: string; cause: string;
    afterKillMs: number;
    /** afterKillMs in heartbeat intervals (goal: at most 3) */
    intervals: number;
    afterLastBeatMs: number | null;
  };
  viewChange: null | { view: number; members: number[]; startStep: number; firstAt: number; at: number };
  replacement: null | {
    /** the new process loaded its data and model and asked to join */
    joiningAt: number | null;
    /** kill -> joining: process start, data and model loading */
    restartMs: number | null;
    /** the view that admits it: installed by the first survivor, by every survivor */
    view: number; startStep: number; admittedFirstAt: number; admittedAt: number;
    /** joining -> the first survivor admitted it (the replacement sees the view from then on) */
    admissionMs: number | null;
    /** it installed the view with its copied state */
    readyAt: number;
  };
  fullSpeed: null | { at: number; step: number; stepMs: number };
  phases: RecoveryPhases;
  stepTimes: {
    /** median step duration before the kill (epoch-boundary steps, which include the evaluation, left out) */
    baselineMs: number | null;
    factor: number;
    thresholdMs: number | null;
    /** median while the victim was out of the view, and after full speed */
    degradedMs: number | null;
    recoveredMs: number | null;
  };
  /** how long the group completed no step: from the last step before the kill (before the admitting view) to the first in the new view */
  stalls: { failureMs: number | null; admissionMs: number | null };
  steps: GlobalStep[];
}

/** Back at full speed: a step within the factor, and the median of it and the steps after it (this many in all) within it too (one slow step on a shared machine does not hold the mark back, one fast step does not set it). */
export const FULL_SPEED_RUN = 3;

const timeOf = (r: TimedRecord) => ('at' in r ? r.at : r.receivedAt);

/** The group's steps in order, each completed when its last member recorded it. */
export function globalSteps(records: readonly TimedRecord[]): GlobalStep[] {
  const byStep = new Map<number, Extract<TimedRecord, { type: 'step' }>[]>();
  for (const r of records) if (r.type === 'step') byStep.set(r.step, [...(byStep.get(r.step) ?? []), r]);
  const out: GlobalStep[] = [];
  for (const step of [...byStep.keys()].sort((a, b) => a - b)) {
    const list = byStep.get(step)!;
    const last = list.reduce((a, b) => (b.at > a.at ? b : a));
    const prev = out[out.length - 1];
    out.push({
      step, epoch: last.epoch, stepInEpoch: last.stepInEpoch, members: last.members, view: last.view, at: last.at,
      ms: prev && prev.step === step - 1 ? last.at - prev.at : null,
    });
  }
  return out;
}

const between = (a: number | null | undefined, b: number | null | undefined) => (a == null || b == null ? null : b - a);

export function failureTimeline(records: readonly TimedRecord[], kill: Kill, o: { heartbeatMs: number; peers: number; factor: number }): FailureTimeline {
  const survivors = new Set(Array.from({ length: o.peers }, (_, i) => i).filter((i) => i !== kill.peer));
  const after = records.filter((r) => timeOf(r) >= kill.at);
  const steps = globalSteps(records);
  const timed = (s: GlobalStep) => s.ms !== null && s.stepInEpoch !== 0;

  const before = steps.filter((s) => s.at < kill.at);
  const baselineList = before.filter(timed).map((s) => s.ms!);
  const baselineMs = baselineList.length ? median(baselineList) : null;
  const thresholdMs = baselineMs === null ? null : baselineMs * o.factor;

  const recover = after.find((r): r is Extract<TimedRecord, { type: 'recover' }> => r.type === 'recover' && survivors.has(r.peer));
  const detection = recover ? {
    at: recover.at, peer: recover.peer, error: recover.error, cause: recover.cause,
    afterKillMs: recover.at - kill.at, intervals: (recover.at - kill.at) / o.heartbeatMs,
    afterLastBeatMs: kill.lastBeatAt === null ? null : recover.at - kill.lastBeatAt,
  } : null;

  // a view as every survivor installed it: first and last of their view records
  const views = after.filter((r): r is Extract<TimedRecord, { type: 'view' }> => r.type === 'view' && survivors.has(r.peer));
  const installed = (pick: (members: number[]) => boolean, from: number) => {
    const first = views.find((r) => r.at >= from && pick(r.view.members));
    if (!first) return null;
    const same = views.filter((r) => r.view.number === first.view.number);
    return { view: first.view, firstAt: first.at, at: Math.max(...same.map((r) => r.at)) };
  };
  const without = installed((m) => !m.includes(kill.peer), kill.at);
  const viewChange = without ? { view: without.view.number, members: without.view.members, startStep: without.view.startStep, firstAt: without.firstAt, at: without.at } : null;

  const admitted = without ? installed((m) => m.includes(kill.peer), without.at) : null;
  const joining = after.find((r) => r.type === 'joining' && r.peer === kill.peer) ?? null;
  const ready = admitted
    ? after.find((r): r is Extract<TimedRecord, { type: 'view' }> => r.type === 'view' && r.peer === kill.peer && r.view.number >= admitted.view.number) ?? null
    : null;
  const joiningAt = joining ? timeOf(joining) : null;
  const replacement = admitted && ready ? {
    joiningAt, restartMs: between(kill.at, joiningAt),
    view: admitted.view.number, startStep: admitted.view.startStep, admittedFirstAt: admitted.firstAt, admittedAt: admitted.at,
    admissionMs: between(joiningAt, admitted.firstAt), readyAt: ready.at,
  } : null;

  // back to full speed: after the replacement is ready, a full-membership step within the factor of the
  // baseline whose window of FULL_SPEED_RUN steps (fewer if the run ends first) has its median within it too
  let fullSpeed: FailureTimeline['fullSpeed'] = null;
  if (replacement && thresholdMs !== null) {
    const candidates = steps.filter((s) => s.at > replacement.readyAt && s.members.length === o.peers && timed(s));
    const i = candidates.findIndex((s, k) => s.ms! <= thresholdMs && median(candidates.slice(k, k + FULL_SPEED_RUN).map((c) => c.ms!)) <= thresholdMs);
    if (i >= 0) fullSpeed = { at: candidates[i].at, step: candidates[i].step, stepMs: candidates[i].ms! };
  }

  const degraded = viewChange && replacement ? steps.filter((s) => s.at > viewChange.at && s.at <= replacement.admittedFirstAt && timed(s)).map((s) => s.ms!) : [];
  const recovered = fullSpeed ? steps.filter((s) => s.at >= fullSpeed!.at && s.members.length === o.peers && timed(s)).map((s) => s.ms!) : [];
  const lastBefore = (t: number) => [...steps].reverse().find((s) => s.at <= t) ?? null;
  const firstAfter = (t: number) => steps.find((s) => s.at > t) ?? null;
  const stall = (from: number | undefined, to: number | undefined) =>
    from === undefined || to === undefined ? null : between(lastBefore(from)?.at, firstAfter(to)?.at);

  const phases: RecoveryPhases = {
    detectionMs: detection?.afterKillMs ?? null,
    viewChangeMs: between(detection?.at, viewChange?.at),
    degradedMs: between(viewChange?.at, replacement?.admittedFirstAt),
    stateCopyMs: between(replacement?.admittedFirstAt, replacement?.readyAt),
    backToFullSpeedMs: between(replacement?.readyAt, fullSpeed?.at),
    recoveryMs: between(kill.at, fullSpeed?.at),
  };
  return {
    heartbeatMs: o.heartbeatMs, peers: o.peers, kill,
    lastStepBeforeKill: before.length ? before[before.length - 1].step : null,
    detection, viewChange, replacement, fullSpeed, phases,
    stepTimes: {
      baselineMs, factor: o.factor, thresholdMs,
      degradedMs: degraded.length ? median(degraded) : null, recoveredMs: recovered.length ? median(recovered) : null,
    },
    stalls: {
      failureMs: stall(kill.at, viewChange?.at),
      admissionMs: stall(replacement?.admittedFirstAt, replacement?.admittedAt),
    },
    steps,
  };
}
