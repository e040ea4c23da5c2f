import { ArgumentError } from '../../errors';
import { requireInteger, requireNumber } from '../../validate';
import { RawReply, RedisArg, TensorCommand, replyInteger, replyString } from '../reply';

/** Options every TENSOR.AGG rule takes. */
export interface AggCommonOptions {
  /** the version dest gets (default 0: the aggregate is a new value) */
  version?: number;
}

export interface AggTrimmedOptions extends AggCommonOptions {
  /** values dropped at each end of every coordinate: 2 * trim < sources.length */
  trim: number;
}

export interface AggKrumOptions extends AggCommonOptions {
  /** Byzantine sources tolerated: sources.length >= 2f + 3 */
  f: number;
  /** Multi-Krum: how many of the best-scored sources are averaged, 1 (Krum, the default) to sources.length - f */
  multi?: number;
}

export interface AggCclipOptions extends AggCommonOptions {
  /** clipping radius (L2 norm of each source's distance to the center), finite and >= 0 */
  tau: number;
  /** clipping steps, 1 (the default) to 1000 */
  iterations?: number;
  /** key of the starting point (e.g. the previous aggregate); zeros when not given */
  centerKey?: string;
}

/** A robust aggregation rule of TENSOR.AGG with the options it takes. */
export type AggArgs =
  | [dest: string, rule: 'mean' | 'median', sources: readonly string[], options?: AggCommonOptions]
  | [dest: string, rule: 'trimmed', sources: readonly string[], options: AggTrimmedOptions]
  | [dest: string, rule: 'krum', sources: readonly string[], options: AggKrumOptions]
  | [dest: string, rule: 'cclip', sources: readonly string[], options: AggCclipOptions];

export type AggRule = AggArgs[1];

const AGG_RULES: readonly AggRule[] = ['mean', 'median', 'trimmed', 'krum', 'cclip'];

/** the most clipping steps TENSOR.AGG CCLIP takes */
const AGG_MAX_ITERATIONS = 1000;

function ruleArgs(args: AggArgs): RedisArg[] {
  const n = args[2].length;
  switch (args[1]) {
    case 'mean':
    case 'median':
      return [args[1].toUpperCase()];
    case 'trimmed': {
      const trim = requireInteger(args[3]?.trim, 'trim', 0);
      if (2 * trim >= n) throw new ArgumentError('ERR_RANGE', `trimming ${trim} from each end needs more than ${2 * trim} sources, got ${n}`);
      return ['TRIMMED', String(trim)];
    }
    case 'krum': {
      const f = requireInteger(args[3]?.f, 'f', 0);
      if (n < 2 * f + 3) throw new ArgumentError('ERR_RANGE', `Krum with f = ${f} needs at least ${2 * f + 3} sources, got ${n}`);
      const multi = requireInteger(args[3].multi ?? 1, 'multi', 1);
      if (multi > n - f) throw new ArgumentError('ERR_RANGE', `multi must be at most sources - f = ${n - f}, got ${multi}`);
      return ['KRUM', String(f), 'MULTI', String(multi)];
    }
    case 'cclip': {
      const o = args[3];
      const tau = requireNumber(o?.tau, 'tau', { min: 0 });
      const iterations = requireInteger(o.iterations ?? 1, 'iterations', 1);
      if (iterations > AGG_MAX_ITERATIONS) throw new ArgumentError('ERR_RANGE', `iterations must be at most ${AGG_MAX_ITERATIONS}, got ${iterations}`);
      const out: RedisArg[] = ['CCLIP', String(tau), 'ITERS', String(iterations)];
      if (o.centerKey !== undefined) {
        if (typeof o.centerKey !== 'string') throw new ArgumentError('ERR_ARGUMENT', 'centerKey must be a string');
        out.push('CENTER', o.centerKey);
      } else if (args[2][0]?.toUpperCase() === 'CENTER') {
        // the module would read it as the CENTER option (every other option is written out, so only this one can clash)
        throw new ArgumentError('ERR_ARGUMENT', 'a first source named CENTER needs a centerKey or another source before it');
      }
      return out;
    }
    default:
      throw new ArgumentError('ERR_ARGUMENT', `unknown aggregation rule ${String(args[1])}: use ${AGG_RULES.join(', ')}`);
  }
}

/** Krum's reply: the indices of the selected sources, ascending; the other rules reply OK. */
function replySelected(reply: RawReply): number[] | null {
  if (Array.isArray(reply)) return reply.map(replyInteger);
  const s = replyString(reply);
  if (s !== 'OK') throw new TypeError(`expected OK or the selected sources, got ${s}`);
  return null;
}

/**
 * TENSOR.AGG dest RULE ... VERSION v src1 .. srcN: a robust aggregate of the sources computed inside Redis
 * (mean, coordinate-wise median, trimmed mean, Krum / Multi-Krum, centered clipping). Resolves to the indices
 * into `sources` that Krum selected, null for the other rules. Every option is written out, so sources are
 * named exactly whatever they are called.
 */
export const agg: TensorCommand<AggArgs, number[] | null> = {
  name: 'TENSOR.AGG',
  readonly: false,
  build(...args) {
    const [dest, , sources, options] = args;
    if (!Array.isArray(sources) || sources.length === 0) throw new ArgumentError('ERR_ARGUMENT', 'TENSOR.AGG needs at least one source key');
    const rule = ruleArgs(args);
    const version = requireInteger(options?.version ?? 0, 'version', 0);
    return [dest, ...rule, 'VERSION', String(version), ...sources];
  },
  parse: replySelected,
};
