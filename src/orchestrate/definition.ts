// The epoch state machine as data: the ASL file, and its forms for AWS Step Functions.
import fs from 'node:fs';
import path from 'node:path';
import { ArgumentError } from '../errors';
import type * as functions from '../functions';

/** The Lambda ARN prefix the definition file is written with; `asl export` swaps in the user's. */
export const DEFAULT_ARN_PREFIX = 'arn:aws:lambda:us-east-1:000000000000:function:spirt-';

/** Task state name -> the Lambda function name suffix it invokes (spirt-<suffix> in packaging/template.yaml). */
export const TASK_FUNCTIONS = {
  Membership: 'membership',
  ComputeGradient: 'gradient',
  Exchange: 'exchange',
  Aggregate: 'aggregate',
  Update: 'update',
  Convergence: 'convergence',
  Recover: 'recover',
} as const;

export type TaskState = keyof typeof TASK_FUNCTIONS;

/** Task state name -> the spirt/functions export that handles it (the Lambda's Handler, `handlers.<export>`). */
export const TASK_HANDLERS: Record<TaskState, keyof typeof functions> = {
  Membership: 'membership',
  ComputeGradient: 'computeGradient',
  Exchange: 'exchange',
  Aggregate: 'aggregate',
  Update: 'update',
  Convergence: 'convergence',
  Recover: 'recover',
};

export type AslState = Record<string, unknown> & { Type: string; Resource?: string; ItemProcessor?: AslDefinition; Iterator?: AslDefinition; Branches?: AslDefinition[] };
export type AslDefinition = { StartAt: string; States: Record<string, AslState>; Comment?: string };

/** Lambda function names: at most 64 letters, digits, hyphens and underscores. */
const FUNCTION_NAME_MAX = 64;
const ARN_PREFIX = /^arn:aws(-cn|-us-gov)?:lambda:[a-z]{2}(-[a-z]+)+-\d+:\d{12}:function:([A-Za-z0-9_-]*)$/;

export function epochDefinition(): AslDefinition {
  return JSON.parse(fs.readFileSync(path.join(__dirname, 'epoch.asl.json'), 'utf8')) as AslDefinition;
}

/** Every Task state, at any depth (Map item processors, Parallel branches), with its name. */
export function taskStates(definition: AslDefinition): Array<[string, AslState]> {
  return Object.entries(definition.States).flatMap(([name, state]): Array<[string, AslState]> => [
    ...(state.Type === 'Task' ? [[name, state] as [string, AslState]] : []),
    ...[state.ItemProcessor, state.Iterator, ...(state.Branches ?? [])].filter((d): d is AslDefinition => d !== undefined).flatMap(taskStates),
  ]);
}

/** The definition with each task's Resource replaced by `resource(state name, function suffix)`. */
function withResources(resource: (state: TaskState, fn: string) => string): AslDefinition {
  const definition = epochDefinition();
  for (const [name, state] of taskStates(definition)) {
    const fn = (TASK_FUNCTIONS as Record<string, string>)[name];
    // the file and TASK_FUNCTIONS are edited together; a mismatch must not deploy a wrong wiring
    if (fn === undefined || state.Resource !== `${DEFAULT_ARN_PREFIX}${fn}`) {
      throw new Error(`epoch.asl.json: task state ${name} invokes ${String(state.Resource)}, which is not a function of TASK_FUNCTIONS`);
    }
    state.Resource = resource(name as TaskState, fn);
  }
  return definition;
}

/**
 * The definition with every task's Resource under `arnPrefix` (e.g.
 * arn:aws:lambda:eu-west-1:123456789012:function:spirt-), ready for Step Functions.
 */
export function exportDefinition(arnPrefix: string): AslDefinition {
  const match = ARN_PREFIX.exec(String(arnPrefix));
  if (!match) {
    throw new ArgumentError('ERR_ARGUMENT', `--arn-prefix '${arnPrefix}' is not a Lambda function ARN prefix (arn:aws:lambda:REGION:ACCOUNT:function:NAME-PREFIX, ACCOUNT 12 digits)`);
  }
  const longest = Math.max(...Object.values(TASK_FUNCTIONS).map((fn) => fn.length));
  if (match[3].length + longest > FUNCTION_NAME_MAX) {
    throw new ArgumentError('ERR_ARGUMENT', `--arn-prefix: function name prefix '${match[3]}' is too long: Lambda function names have at most ${FUNCTION_NAME_MAX} characters, and the longest task function adds ${longest}`);
  }
  return withResources((_, fn) => `${arnPrefix}${fn}`);
}

/** The DefinitionSubstitutions variable packaging/template.yaml gives each function's ARN: ${GradientFunctionArn}... */
export function samArnVariable(fn: string): string {
  return `${fn[0].toUpperCase()}${fn.slice(1)}FunctionArn`;
}

/** The definition for packaging/template.yaml: every task's Resource a `${<Name>FunctionArn}` substitution. */
export function samDefinition(): AslDefinition {
  return withResources((_, fn) => `\${${samArnVariable(fn)}}`);
}
