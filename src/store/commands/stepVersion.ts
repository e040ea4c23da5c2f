import { ArgumentError } from '../../errors';
import { RawReply, RedisArg, replyOk } from '../reply';
import { requireInteger } from '../../validate';

/** The version an optimizer step gives the parameter, and whether a step at that version or below is a no-op. */
export interface StepVersionOptions {
  /** VERSION v: the parameter's (and its optimizer state's) version after the step */
  version?: number;
  /**
   * GT: apply only when `version` is newer than the parameter's; otherwise nothing changes and the command
   * resolves to false. Makes a retried step (a lost reply, a Lambda retry) safe.
   */
  onlyIfNewer?: boolean;
}

export function stepVersionArgs(o: StepVersionOptions): RedisArg[] {
  if (o.version === undefined) {
    if (o.onlyIfNewer) throw new ArgumentError('ERR_ARGUMENT', 'onlyIfNewer needs a version');
    return [];
  }
  return ['VERSION', String(requireInteger(o.version, 'version', 0)), ...(o.onlyIfNewer ? ['GT'] : [])];
}

/** OK: the step was applied; nil: GT found the parameter at that version or newer. */
export function replyApplied(reply: RawReply): boolean {
  if (reply === null) return false;
  replyOk(reply);
  return true;
}
