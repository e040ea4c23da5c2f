// What every `spirt` subcommand is, and the strict option parsing they share (node:util parseArgs).
import { ParseArgsConfig, parseArgs } from 'node:util';
import { ArgumentError } from '../errors';

export interface CliCommand {
  /** the word that selects it: `spirt <name>` (or `spirt bench <name>`) */
  readonly name: string;
  /** one line for the list of commands */
  readonly summary: string;
  /** what --help prints: usage, description, options */
  readonly help: string;
  /** runs it with the arguments after its name; resolves to the exit code */
  run(argv: readonly string[]): Promise<number>;
}

type Options = NonNullable<ParseArgsConfig['options']>;
const HELP = { help: { type: 'boolean', short: 'h' } } as const;
type Parsed<O extends Options, P extends boolean> =
  ReturnType<typeof parseArgs<{ args: string[]; options: O & typeof HELP; strict: true; allowPositionals: P }>>;

/**
 * The command's options, parsed strictly: an unknown option, a missing value or a stray argument is an
 * ArgumentError. --help / -h is every command's; null means it was given and the help is printed.
 */
export function parseOptions<O extends Options, P extends boolean = false>(
  command: CliCommand, argv: readonly string[], options: O, allowPositionals?: P,
): Parsed<O, P> | null {
  let parsed: Parsed<O, P>;
  try {
    parsed = parseArgs({ args: [...argv], options: { ...options, ...HELP }, strict: true, allowPositionals: allowPositionals ?? false }) as Parsed<O, P>;
  } catch (e) {
    // node's messages go on to explain '--' for positionals; the first sentence says what is wrong
    const what = (e as Error).message.split(/\.(\s|$)/)[0];
    throw new ArgumentError('ERR_ARGUMENT', `${what[0].toLowerCase()}${what.slice(1)} for 'spirt ${command.name}' (see spirt ${command.name} --help)`);
  }
  if ((parsed.values as { help?: boolean }).help) {
    process.stdout.write(command.help);
    return null;
  }
  return parsed;
}

/** A number option's value, or undefined when it was not given. */
export function numberOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new ArgumentError('ERR_ARGUMENT', `--${name}: '${value}' is not a number`);
  return n;
}

/** A comma-separated list of positive numbers (1e6 notation allowed), rounded to integers. */
export function positiveIntegerList(value: string | undefined, name: string): number[] | undefined {
  return value?.split(',').map((v) => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n <= 0) throw new ArgumentError('ERR_ARGUMENT', `--${name}: '${v}' is not a positive number`);
    return Math.round(n);
  });
}

/** A list as positiveIntegerList reads it, millions in 1e6 notation: for the defaults that help texts name. */
export function formatIntegerList(xs: readonly number[]): string {
  return xs.map((x) => (x >= 1e6 ? `${x / 1e6}e6` : String(x))).join(',');
}

/** `name   summary` lines, aligned, for a list of commands. */
export function commandList(commands: readonly CliCommand[]): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 3;
  return commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`).join('\n');
}
