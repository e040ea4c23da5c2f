// The epoch state machine as Step Functions gets it: src/orchestrate/epoch.asl.json and both forms of
// `spirt asl export` (--arn-prefix, --sam) validated by asl-validator; every Task invokes a function whose
// handler is an export of spirt/functions; packaging/template.yaml substitutes exactly the --sam variables.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AslDefinition, DEFAULT_ARN_PREFIX, TASK_FUNCTIONS, TASK_HANDLERS, TaskState, taskStates } from '../src/orchestrate/definition';
import { writeNoAddonPreload } from './helpers';

const root = path.resolve(__dirname, '..');
const cli = path.join(root, 'bin', 'spirt.js');
const validatorCli = path.join(root, 'node_modules', '.bin', 'asl-validator');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const validate = require('asl-validator') as (definition: unknown) => { isValid: boolean; errors: unknown[] };
const PREFIX = 'arn:aws:lambda:eu-west-1:123456789012:function:spirt-';

let work: string;
beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'spirt-asl-'));
});
afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

function spirt(args: string[], options: { preload?: string } = {}) {
  const node = options.preload ? ['-r', options.preload] : [];
  return spawnSync(process.execPath, [...node, cli, ...args], { encoding: 'utf8', timeout: 30_000 });
}

/** asl-validator's JS API (it adds QueryLanguage to the states it is given: hand it a copy). */
function aslErrors(definition: AslDefinition): unknown[] {
  return validate(structuredClone(definition)).errors;
}

function exported(args: string[]): AslDefinition {
  const r = spirt(['asl', 'export', ...args]);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout) as AslDefinition;
}

const source = JSON.parse(fs.readFileSync(path.join(root, 'src', 'orchestrate', 'epoch.asl.json'), 'utf8')) as AslDefinition;

describe('the epoch state machine', () => {
  test('epoch.asl.json is valid ASL, and asl-validator does refuse a broken copy', () => {
    expect(aslErrors(source)).toEqual([]);
    const broken = structuredClone(source);
    broken.States.Exchange.Next = 'Aggregation';
    expect(JSON.stringify(aslErrors(broken))).toContain('Aggregation');
  });

  test('its task states are exactly those of TASK_FUNCTIONS, each invoking spirt-<function> under the default prefix', () => {
    const tasks = taskStates(source);
    expect(tasks.map(([name]) => name).sort()).toEqual(Object.keys(TASK_FUNCTIONS).sort());
    for (const [name, state] of tasks) expect(state.Resource).toBe(`${DEFAULT_ARN_PREFIX}${TASK_FUNCTIONS[name as TaskState]}`);
  });

  test('every task\'s handler is a promise-style export of spirt/functions (Lambda passes event and context)', () => {
    const functions = require(path.join(root, 'dist', 'functions', 'index.js')) as Record<string, unknown>;
    for (const [name] of taskStates(source)) {
      const handler = functions[TASK_HANDLERS[name as TaskState]];
      expect(typeof handler).toBe('function');
      // three parameters would make Lambda's Node.js runtime pass a callback and wait for it
      expect((handler as (...a: unknown[]) => unknown).length).toBeLessThan(3);
    }
  });
});

describe('spirt asl export', () => {
  test('--arn-prefix: valid ASL (JS API and asl-validator --json-path on --out\'s file), every task on a function under the prefix', () => {
    const definition = exported(['--arn-prefix', PREFIX]);
    expect(aslErrors(definition)).toEqual([]);
    const tasks = taskStates(definition);
    expect(tasks).toHaveLength(Object.keys(TASK_FUNCTIONS).length);
    for (const [name, state] of tasks) expect(state.Resource).toBe(`${PREFIX}${TASK_FUNCTIONS[name as TaskState]}`);
    // the rest of the machine is the file's
    const back = JSON.parse(JSON.stringify(definition).split(PREFIX).join(DEFAULT_ARN_PREFIX));
    expect(back).toEqual(source);

    const out = path.join(work, 'nested', 'epoch.json');
    const r = spirt(['asl', 'export', '--arn-prefix', 'arn:aws-cn:lambda:cn-north-1:210987654321:function:team_a-', '--out', out]);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`written: ${out}\n`);
    const checked = spawnSync(validatorCli, ['--json-path', out], { encoding: 'utf8', timeout: 30_000 });
    expect(checked.stdout).toContain('is valid');
    expect(checked.status).toBe(0);
    expect(taskStates(JSON.parse(fs.readFileSync(out, 'utf8'))).map(([, s]) => s.Resource)).toContain('arn:aws-cn:lambda:cn-north-1:210987654321:function:team_a-gradient');
  });

  test('--sam: valid ASL whose task resources are the ${<Function>FunctionArn} variables packaging/template.yaml substitutes', () => {
    const definition = exported(['--sam']);
    expect(aslErrors(definition)).toEqual([]);
    const variables = taskStates(definition).map(([name, state]) => {
      const m = /^\$\{(\w+)\}$/.exec(String(state.Resource));
      expect(m).not.toBeNull();
      return { state: name as TaskState, variable: m![1] };
    });

    const template = fs.readFileSync(path.join(root, 'packaging', 'template.yaml'), 'utf8');
    expect(template).toMatch(/\n {6}DefinitionUri: epoch\.asl\.json\n/);
    const substitutions = template.split(/\n {6}DefinitionSubstitutions:\n/)[1]?.split(/\n {6}\S/)[0] ?? '';
    const substituted = new Map([...substitutions.matchAll(/^ {8}(\w+): !GetAtt (\w+)\.Arn$/gm)].map((m) => [m[1], m[2]]));
    expect([...substituted.keys()].sort()).toEqual(variables.map((v) => v.variable).sort());
    for (const { state, variable } of variables) {
      // the function the variable names: spirt-<function>, its handler the task's spirt/functions export
      const logical = substituted.get(variable)!;
      const block = new RegExp(`\\n  ${logical}:\\n    Type: AWS::Serverless::Function\\n    Properties:\\n((?: {6}.*\\n)+)`).exec(template)?.[1] ?? '';
      expect(block).toContain(`      FunctionName: spirt-${TASK_FUNCTIONS[state]}\n`);
      expect(block).toContain(`      Handler: handlers.${TASK_HANDLERS[state]}\n`);
      expect(template).toContain(`LambdaInvokePolicy: { FunctionName: !Ref ${logical} }`);
    }
  });

  test('refuses a bad --arn-prefix, both or neither form, and writes nothing', () => {
    const out = path.join(work, 'refused.json');
    for (const [prefix, message] of [
      ['spirt-', /--arn-prefix 'spirt-' is not a Lambda function ARN prefix/],
      ['arn:aws:s3:::my-bucket/spirt-', /is not a Lambda function ARN prefix/],
      ['arn:aws:lambda:eu-west-1:1234:function:spirt-', /ACCOUNT 12 digits/],
      ['arn:aws:lambda:eu-west-1:123456789012:spirt-', /is not a Lambda function ARN prefix/],
      ['arn:aws:lambda:eu-west-1:123456789012:function:spirt.', /is not a Lambda function ARN prefix/],
      ['${FunctionArnPrefix}', /is not a Lambda function ARN prefix/],
      [`arn:aws:lambda:eu-west-1:123456789012:function:${'p'.repeat(54)}`, /function name prefix 'p+' is too long: Lambda function names have at most 64 characters/],
    ] as const) {
      const r = spirt(['asl', 'export', '--arn-prefix', prefix, '--out', out]);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(message);
      expect(r.stdout).toBe('');
      expect(fs.existsSync(out)).toBe(false);
    }
    // the longest name that fits: 53 + 'convergence' = 64
    expect(spirt(['asl', 'export', '--arn-prefix', `arn:aws:lambda:eu-west-1:123456789012:function:${'p'.repeat(53)}`]).status).toBe(0);
    for (const args of [[], ['--sam', '--arn-prefix', PREFIX]]) {
      const r = spirt(['asl', 'export', ...args]);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/'spirt asl export' takes either --arn-prefix PREFIX or --sam/);
    }
    expect(spirt(['asl', 'import']).stderr).toMatch(/unknown subcommand 'asl import'/);
    expect(spirt(['asl', 'export', '--arn', PREFIX]).stderr).toMatch(/unknown option '--arn' for 'spirt asl export'/);
  });

  test('--help documents it, and it runs without the native addon', () => {
    const help = spirt(['asl', 'export', '--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^usage: spirt asl export \(--arn-prefix PREFIX \| --sam\) \[--out FILE\]/);
    expect(spirt(['help', 'asl']).stdout).toMatch(/^usage: spirt asl export/);
    const r = spirt(['asl', 'export', '--sam'], { preload: writeNoAddonPreload(work) });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
