// The options every database benchmark takes (--params, --client, --reps, --url, --out), parsed once for all.
import type { DatabaseBenchOptions } from '../../bench/common';
import { ArgumentError } from '../../errors';
import { numberOption, positiveIntegerList } from '../command';

export const DATABASE_BENCH_OPTIONS = {
  params: { type: 'string' },
  client: { type: 'string' },
  reps: { type: 'string' },
  url: { type: 'string' },
  out: { type: 'string' },
} as const;

/** The values of DATABASE_BENCH_OPTIONS as the benchmarks take them; what was not given is left out. */
export function databaseBenchOptions(o: { params?: string; client?: string; reps?: string; url?: string; out?: string }):
  Omit<DatabaseBenchOptions, 'log'> & { params?: number[] } {
  const client = o.client ?? 'ioredis';
  if (client !== 'ioredis' && client !== 'redis') throw new ArgumentError('ERR_ARGUMENT', '--client must be ioredis or redis');
  const params = positiveIntegerList(o.params, 'params');
  const reps = numberOption(o.reps, 'reps');
  return {
    client, ...(params ? { params } : {}), ...(reps === undefined ? {} : { reps }), ...(o.url ? { url: o.url } : {}),
    ...(o.out ? { outDir: o.out } : {}),
  };
}
