// The Lambda layer at work: `spirt layer` for this machine's architecture, unzipped into an empty directory
// as Lambda mounts it on /opt, and every spirt/functions handler invoked the way the Lambda Node.js runtime
// does it: the function's code (packaging/lambda/handlers.js) in its own task directory, spirt found through
// NODE_PATH, `handler(event, context)` on the JSON event in a fresh process, the result or the error's
// errorType / errorMessage back as JSON. The peer's database is a real redis-server running the layer's
// module; the gradients, the update and the evaluation are checked against this checkout's engine.
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { AslDefinition, TASK_FUNCTIONS, TASK_HANDLERS, TaskState, epochDefinition } from '../src/orchestrate/definition';
import { epochMachine } from '../src/orchestrate/runner';
import { runConfig } from '../src/peer/config';
import { PeerState, RunConfig, View, keys, version } from '../src/peer/protocol';
import { minibatch, modelFor } from '../src/peer/training';
import { RunningRedis, startRedis } from '../src/redis/launcher';
import { mean, sgdStep } from '../src/reference';
import { TensorStore } from '../src/store/tensorStore';
import type { GradientEvent, GradientResult, StepEvent } from '../src/functions';

const root = path.resolve(__dirname, '..');
const arch = process.arch;
const INVOKE_TIMEOUT_MS = 120_000;

/**
 * The runtime's part, as AWS documents it for Node.js: the Handler string is <file>.<export> under the task
 * root; an async handler's promise is the result; an error is reported by its name and message (Step
 * Functions matches a Catch's ErrorEquals against that name). The process then ends: Lambda freezes it, open
 * connections do not keep it alive.
 */
const BOOTSTRAP = `'use strict';
const fs = require('node:fs');
const path = require('node:path');
const [eventFile, resultFile] = process.argv.slice(2);
const report = (value) => {
  fs.writeFileSync(resultFile, JSON.stringify({ ...value, loaded: Object.keys(require.cache) }));
  process.exit(0);
};
(async () => {
  const handlerString = process.env._HANDLER;
  const dot = handlerString.lastIndexOf('.');
  const code = require(path.join(process.env.LAMBDA_TASK_ROOT, handlerString.slice(0, dot)));
  const handler = code[handlerString.slice(dot + 1)];
  if (typeof handler !== 'function') throw Object.assign(new Error(handlerString + ' is undefined or not exported'), { name: 'Runtime.HandlerNotFound' });
  const deadline = Date.now() + 300000;
  const context = {
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME, functionVersion: '$LATEST', memoryLimitInMB: '1769',
    invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:' + process.env.AWS_LAMBDA_FUNCTION_NAME,
    awsRequestId: require('node:crypto').randomUUID(), callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => deadline - Date.now(),
  };
  const result = await handler(JSON.parse(fs.readFileSync(eventFile, 'utf8')), context);
  report({ result: result === undefined ? null : JSON.parse(JSON.stringify(result)) });
})().catch((e) => report({ errorType: e && e.name || 'Error', errorMessage: String(e && e.message) }));
`;

interface Invocation {
  result?: unknown;
  errorType?: string;
  errorMessage?: string;
  /** every file the function's process loaded */
  loaded: string[];
}

let work: string;
let opt: string;
let task: string;
let bootstrap: string;
let redis: RunningRedis;
let store: TensorStore;
let config: RunConfig;
let invocations = 0;

/** One cold invocation of the task state's function. */
async function invoke(state: TaskState, event: unknown): Promise<Invocation> {
  const n = ++invocations;
  const eventFile = path.join(work, `event-${n}.json`), resultFile = path.join(work, `result-${n}.json`);
  fs.writeFileSync(eventFile, JSON.stringify(event));
  const env: NodeJS.ProcessEnv = {
    PATH: '/usr/bin:/bin',
    LAMBDA_TASK_ROOT: task,
    _HANDLER: `handlers.${TASK_HANDLERS[state]}`,
    AWS_LAMBDA_FUNCTION_NAME: `spirt-${TASK_FUNCTIONS[state]}`,
    AWS_REGION: 'eu-west-1',
    TZ: ':UTC',
    // Lambda's NODE_PATH, /opt being the unzipped layer
    NODE_PATH: [`${opt}/nodejs/node22/node_modules`, `${opt}/nodejs/node_modules`, `${work}/var/runtime/node_modules`, task].join(':'),
    // packaging/template.yaml's environment
    SPIRT_THREADS: '2',
    ...(process.env.SPIRT_FASHION_MNIST_DIR ? { SPIRT_FASHION_MNIST_DIR: process.env.SPIRT_FASHION_MNIST_DIR } : {}),
  };
  await promisify(execFile)(process.execPath, [bootstrap, eventFile, resultFile], { cwd: task, env, timeout: INVOKE_TIMEOUT_MS });
  const out = JSON.parse(fs.readFileSync(resultFile, 'utf8')) as Invocation;
  // the function ran on the layer and its own code alone, nothing of this checkout
  expect(out.loaded.filter((f) => !f.startsWith(`${opt}/`) && !f.startsWith(`${task}/`) && f !== bootstrap)).toEqual([]);
  expect(out.loaded).toContain(path.join(opt, 'nodejs/node_modules/spirt/dist/functions/index.js'));
  return out;
}

function succeeded<T>(r: Invocation): T {
  if (r.errorType) throw new Error(`the function failed: ${r.errorType}: ${r.errorMessage}`);
  return r.result as T;
}

function float32(buf: Buffer | null): Float32Array {
  if (!buf) throw new Error('no such tensor');
  return new Float32Array(new Uint8Array(buf).buffer);
}

const view1: View = { number: 1, members: [0], startStep: 0, epoch: 0, stepInEpoch: 0, planMembers: [0] };
const step0 = { step: 0, epoch: 0, stepInEpoch: 0 };

beforeAll(async () => {
  work = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'spirt-lambda-')));
  const zip = path.join(work, `spirt-layer-${arch}.zip`);
  const layer = spawnSync(process.execPath, [path.join(root, 'bin', 'spirt.js'), 'layer', '--arch', arch, '--out', zip], { encoding: 'utf8', timeout: 120_000 });
  if (layer.status !== 0) throw new Error(`spirt layer failed (run 'npm run prebuilds' first; npm test does):\n${layer.stderr}`);
  opt = path.join(work, 'opt');
  fs.mkdirSync(opt);
  const unzip = spawnSync('unzip', ['-q', zip, '-d', opt], { encoding: 'utf8' });
  if (unzip.status !== 0) throw new Error(`unzip failed: ${unzip.stderr}`);
  task = path.join(work, 'task');
  fs.mkdirSync(task);
  fs.copyFileSync(path.join(root, 'packaging', 'lambda', 'handlers.js'), path.join(task, 'handlers.js'));
  bootstrap = path.join(work, 'bootstrap.js');
  fs.writeFileSync(bootstrap, BOOTSTRAP);

  // the peer's database runs the layer's module
  redis = await startRedis({ module: false, args: ['--loadmodule', path.join(opt, `nodejs/node_modules/spirt/prebuilds/linux-${arch}/spirt_redis.so`)] });
  store = await TensorStore.connect(redis.url);
  // roster: peer 0, and peer 1 (its keys in the same server) that asks to join later; 64 samples per shard = one
  // step of 2 functions x batch 32 per epoch
  config = runConfig({ urls: [redis.url, redis.url], batch: 32, functions: 2, epochs: 1, trainLimit: 128, testLimit: 1000, runId: 'lambda' });
  const params = (await modelFor(config)).initParams(config.seed);
  await store.command('TENSOR.SET', keys.params(0), 'FLOAT32', 'SHAPE', String(params.length), 'BLOB', Buffer.from(params.buffer), 'VERSION', '0');
  const state: PeerState = { step: -1, view: 1, epoch: 0, stepInEpoch: -1, digest: '' };
  await store.command('SET', keys.state(0), JSON.stringify(state));
  await store.command('SET', keys.view(0), JSON.stringify(view1));
}, 180_000);

afterAll(async () => {
  await store?.close();
  await redis?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe(`spirt/functions from the linux-${arch} layer, invoked as Lambda invokes them`, () => {
  let expected: Array<{ grad: Float32Array; loss: number }>;
  let params0: Float32Array;

  beforeAll(async () => {
    const model = await modelFor(config);
    params0 = float32(await store.getBlob(keys.params(0)));
    expected = await Promise.all([0, 1].map((k) => model.gradient(params0, [minibatch(config, view1, 0, 0, 0, k)])));
  });

  test('the gradient function computes the MLP gradient of its Fashion-MNIST minibatch into the peer\'s database', async () => {
    const event: GradientEvent = { config, peer: 0, view: view1, position: step0, worker: 1 };
    const out = succeeded<GradientResult>(await invoke('ComputeGradient', event));
    expect(out).toEqual({ worker: 1, loss: expected[1].loss, samples: 32 });
    expect(expected[1].loss).toBeGreaterThan(1); // an untrained 10-class model: about ln 10
    // the layer's addon gives this checkout's bytes, stamped with the step's version
    const stored = await store.getBlob(keys.workerGradient(0, 1));
    expect(Buffer.compare(stored!, Buffer.from(expected[1].grad.buffer))).toBe(0);
    expect((await store.meta(keys.workerGradient(0, 1)))!.version).toBe(version(0, 1));
    expect(expected[1].grad.some((g) => g !== 0)).toBe(true);

    // parameters of another step are refused with the error the state machine routes to Recover
    const stale = await invoke('ComputeGradient', { ...event, position: { step: 3, epoch: 0, stepInEpoch: 3 } });
    expect(stale).toMatchObject({ errorType: 'ViewChangeError', errorMessage: expect.stringContaining("step 3 computes on the parameters after step 2, but peer 0's are after step -1") });
  });

  test('the epoch state machine runs one step with every task a Lambda invocation: SGD applied once in the database though Update ran twice, test accuracy reported', async () => {
    const called: string[] = [];
    const lambda = (state: TaskState) => async (event: unknown) => {
      called.push(state);
      const r = await invoke(state, event);
      if (r.errorType) throw Object.assign(new Error(r.errorMessage), { name: r.errorType });
      // the first Update ran to the end, but its result is lost on the way back, as Lambda reports it
      if (state === 'Update' && called.filter((c) => c === 'Update').length === 1) throw Object.assign(new Error('the response was lost'), { name: 'Lambda.ServiceException' });
      return r.result as never;
    };
    const handlers = Object.fromEntries((Object.keys(TASK_FUNCTIONS) as TaskState[]).map((s) => [s, lambda(s)]));
    const input: StepEvent = { config, peer: 0, view: view1, position: step0 };
    const output = (await epochMachine().run(input as never, { overrides: { taskResourceLocalHandlers: handlers, retryIntervalOverrides: { Update: 10 } } }).result) as unknown as StepEvent;

    // the state's Retry ran Update again; TENSOR.SGD ... GT found the step applied and changed nothing
    expect(called).toEqual(['Membership', 'ComputeGradient', 'ComputeGradient', 'Exchange', 'Aggregate', 'Update', 'Update', 'Convergence']);
    // p1 = p0 - lr * mean(g0, g1), the velocity being the mean (first momentum step), bit for bit
    const n = params0.length;
    const g = mean(expected.map((e) => e.grad), new Float32Array(n));
    const velocity = new Float32Array(n);
    const params1 = sgdStep(params0.slice(), g, { lr: config.lr, momentum: config.momentum, velocity, step: 1 });
    expect(Buffer.compare((await store.getBlob(keys.params(0)))!, Buffer.from(params1.buffer))).toBe(0);
    expect(Buffer.compare((await store.getBlob(keys.velocity(0)))!, Buffer.from(velocity.buffer))).toBe(0);
    expect((await store.meta(keys.params(0)))!.version).toBe(version(0, 1));
    expect(JSON.parse(String(await store.command('GET', keys.state(0))))).toMatchObject({ step: 0, view: 1, epoch: 0, stepInEpoch: 0 });

    const model = await modelFor(config);
    const test = (await import('../src/peer/training')).datasetFor(config).test;
    const { accuracy, loss } = await model.evaluate(params1, { images: test.images, labels: test.labels });
    expect(output).toMatchObject({ epochDone: true, position: { step: 1, epoch: 1, stepInEpoch: 0 }, evaluation: { accuracy, loss } });
    expect(output.loss).toBeCloseTo((expected[0].loss + expected[1].loss) / 2, 6);
  }, 240_000);

  test('a join request: Membership fails with the error the state machine catches, and Recover installs a view with the joiner', async () => {
    const event: StepEvent = { config, peer: 0, view: view1, position: { step: 1, epoch: 1, stepInEpoch: 0 } };
    const model = await modelFor(config);
    await store.command('SET', keys.join(1), JSON.stringify({ id: 1, nonce: 'first', paramCount: model.paramCount, model: 'mlp', at: Date.now() }));
    const refused = await invoke('Membership', event);
    expect(refused).toMatchObject({ errorType: 'ViewChangeError', errorMessage: 'peer(s) 1 ask to join' });
    const definition: AslDefinition = epochDefinition();
    expect(definition.States.Membership.Catch).toEqual([expect.objectContaining({ ErrorEquals: expect.arrayContaining([refused.errorType]), Next: 'Recover' })]);

    // what the Catch hands Recover: the input with the error at $.error
    const cause = JSON.stringify({ errorType: refused.errorType, errorMessage: refused.errorMessage });
    const out = succeeded<StepEvent>(await invoke('Recover', { ...event, error: { Error: refused.errorType, Cause: cause } }));
    // the view records the request it admitted, which is then spent
    const view2: View = { number: 2, members: [0, 1], startStep: 1, epoch: 1, stepInEpoch: 0, planMembers: [0, 1], admitted: { 1: 'first' } };
    expect(out).toMatchObject({ view: view2, position: { step: 1, epoch: 1, stepInEpoch: 0 }, epochDone: false });
    expect(out).not.toHaveProperty('error');
    expect(JSON.parse(String(await store.command('GET', keys.view(0))))).toEqual(view2);
    expect(Number(await store.command('PTTL', keys.heartbeat(0)))).toBeGreaterThan(0);
  }, 120_000);
});
