// The epoch state machine as data: the ASL file, and its form for AWS Step Functions.
import fs from 'node:fs';
import path from 'node:path';
import { ArgumentError } from '../errors';

/** The Lambda ARN prefix the definition file is written with; `asl export` swaps in the user's. */
export const DEFAULT_ARN_PREFIX = 'arn:aws:lambda:us-east-1:000000000000:function:spirt-';

/** Task state name -> the spirt/functions handler (and Lambda function name suffix) it invokes. */
export const TASK_FUNCTIONS = {
  Membership: 'membership',
  ComputeGradient: 'gradient',
  Exchange: 'exchange',
  Aggregate: 'aggregate',
  Update: 'update',
  Convergence: 'convergence',
  Recover: 'recover',
} as const;

export type AslDefinition = { StartAt: string; States: Record<string, Record<string, unknown>>; Comment?: string };

export function epochDefinition(): AslDefinition {
  return JSON.parse(fs.readFileSync(path.join(__dirname, 'epoch.asl.json'), 'utf8')) as AslDefinition;
}

/**
 * The definition with every task's Resource under `arnPrefix` (e.g.
 * arn:aws:lambda:eu-west-1:123456789012:function:spirt-), ready for Step Functions.
 */
export function exportDefinition(arnPrefix: string): AslDefinition {
  if (!/^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]*$/.test(arnPrefix)) {
    throw new ArgumentError('ERR_ARGUMENT', `--arn-prefix '${arnPrefix}' is not a Lambda function ARN prefix (arn:aws:lambda:REGION:ACCOUNT:function:NAME-PREFIX)`);
  }
  const text = JSON.stringify(epochDefinition(), null, 2).split(DEFAULT_ARN_PREFIX).join(arnPrefix);
  return JSON.parse(text) as AslDefinition;
}
