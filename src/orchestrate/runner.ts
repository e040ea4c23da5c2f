// Runs one epoch of one peer by executing the ASL state machine with aws-local-stepfunctions, a real ASL
// interpreter, each Task state calling its spirt/functions handler in this process.
import { ExchangeEvent, GradientEvent, StepEvent } from '../functions/event';
import { aggregate } from '../functions/aggregate';
import { convergence } from '../functions/convergence';
import { exchange } from '../functions/exchange';
import { computeGradient } from '../functions/gradient';
import { membership } from '../functions/membership';
import { RecoverEvent, recover } from '../functions/recover';
import { update } from '../functions/update';
import { epochDefinition } from './definition';

type StateMachineClass = typeof import('aws-local-stepfunctions').StateMachine;
let machineClass: StateMachineClass | undefined;

function stateMachineClass(): StateMachineClass {
  if (!machineClass) {
    // aws-local-stepfunctions 3 targets Node 22; Node 20 lacks Promise.withResolvers, which it uses for timeouts
    const P = Promise as unknown as { withResolvers?: unknown };
    if (!P.withResolvers) {
      P.withResolvers = function withResolvers<T>() {
        let resolve!: (v: T) => void, reject!: (e: unknown) => void;
        const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
        return { promise, resolve, reject };
      };
    }
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    machineClass = (require('aws-local-stepfunctions') as typeof import('aws-local-stepfunctions')).StateMachine;
  }
  return machineClass;
}

let machine: InstanceType<StateMachineClass> | undefined;

/**
 * The epoch state machine, built once per process: building it validates the definition (seconds on a busy
 * machine), so a peer does it before it starts beating.
 */
export function epochMachine(): InstanceType<StateMachineClass> {
  if (!machine) {
    const StateMachine = stateMachineClass();
    machine = new StateMachine(epochDefinition() as never, { validationOptions: { checkArn: false } });
  }
  return machine;
}

/** Each time a task state finishes: its name, how long it took, and its output. */
export type StateListener = (state: string, ms: number, output: unknown) => void;
/** Each time a task state starts: its name and its input. */
export type StateEntryListener = (state: string, input: unknown) => void;

/** Runs the epoch's state machine from `input` to its end; resolves to the last state's output. */
export async function runEpoch(input: StepEvent, onState?: StateListener, onEnter?: StateEntryListener): Promise<StepEvent> {
  const machine = epochMachine();
  const timed = <I, O>(name: string, fn: (event: I) => Promise<O>) => async (event: unknown) => {
    onEnter?.(name, event);
    const t0 = performance.now();
    const out = await fn(event as I).catch((e: Error) => {
      if (process.env.SPIRT_DEBUG) process.stderr.write(`[${(event as StepEvent).peer}] ${name}: ${e.name}: ${e.message}\n`);
      throw e;
    });
    onState?.(name, performance.now() - t0, out);
    return out as never;
  };
  const execution = machine.run(input as never, {
    overrides: {
      taskResourceLocalHandlers: {
        Membership: timed('Membership', membership),
        ComputeGradient: timed('ComputeGradient', (e: GradientEvent) => computeGradient(e)),
        Exchange: timed('Exchange', (e: ExchangeEvent) => exchange(e)),
        Aggregate: timed('Aggregate', aggregate),
        Update: timed('Update', update),
        Convergence: timed('Convergence', convergence),
        Recover: timed('Recover', (e: RecoverEvent) => recover(e)),
      },
    },
  });
  try {
    return (await execution.result) as unknown as StepEvent;
  } catch (e) {
    // a handler's own error (OutOfViewError, a setup error...) rather than the interpreter's wrapper
    throw (e as Error).cause instanceof Error ? (e as Error).cause : e;
  }
}
