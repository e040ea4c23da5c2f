import { ArgumentError } from './errors';

type Typed = Float32Array | Uint16Array | Int8Array | Uint32Array;
type TypedCtor = { new (n: number): Typed; readonly name: string };

export function requireArray<T extends Typed>(value: unknown, ctor: TypedCtor, name: string): T {
  if (!(value instanceof ctor)) {
    const got = value === null || value === undefined ? String(value) : (value as object).constructor?.name ?? typeof value;
    throw new ArgumentError('ERR_ARGUMENT', `${name} must be a ${ctor.name}, got ${got}`);
  }
  return value as T;
}

export function requireF32(value: unknown, name: string): Float32Array {
  return requireArray<Float32Array>(value, Float32Array, name);
}

export function requireSameLength(n: number, arr: { length: number }, name: string): void {
  if (arr.length !== n) throw new ArgumentError('ERR_LENGTH', `${name} has ${arr.length} elements, expected ${n}`);
}

export function requireNumber(value: unknown, name: string, opts: { min?: number; max?: number; finite?: boolean } = {}): number {
  if (typeof value !== 'number' || Number.isNaN(value) || ((opts.finite ?? true) && !Number.isFinite(value))) {
    throw new ArgumentError('ERR_ARGUMENT', `${name} must be a ${opts.finite ?? true ? 'finite ' : ''}number, got ${String(value)}`);
  }
  if ((opts.min !== undefined && value < opts.min) || (opts.max !== undefined && value > opts.max)) {
    throw new ArgumentError('ERR_RANGE', `${name} must be in [${opts.min ?? '-inf'}, ${opts.max ?? 'inf'}], got ${value}`);
  }
  return value;
}

export function requireInteger(value: unknown, name: string, min: number): number {
  if (!Number.isSafeInteger(value) || (value as number) < min) {
    throw new ArgumentError('ERR_RANGE', `${name} must be an integer >= ${min}, got ${String(value)}`);
  }
  return value as number;
}

/** An output array: the one given (checked) or a new one of length n. */
export function outputArray<T extends Typed>(out: T | undefined, ctor: TypedCtor, n: number, name = 'out'): T {
  if (out === undefined) return new ctor(n) as T;
  requireArray<T>(out, ctor, name);
  requireSameLength(n, out, name);
  return out;
}
