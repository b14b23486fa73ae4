import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type LocalRuntime, startLocalRuntime } from '../../dev-server/runtime.ts';
import { ephemeralSettings } from '../../dev-server/settings.ts';
import { until } from '../support/poll.ts';

/**
 * The flow engine through the native API of the local runtime, as a user
 * drives it: real stand-ins, the generated state machine on the local
 * interpreter, real HTTP executors and real commands.
 */

type Json = Record<string, unknown>;
interface TaskView {
  task: string;
  status: string;
  attempts: number;
  output?: Json;
  error?: { error: string; cause: string };
}
interface ExecutionView {
  id: string;
  status: string;
  progress: number;
  error?: { error: string; cause: string };
  tasks: TaskView[];
}

let dataDir = '';
let runtime: LocalRuntime;
let executor: Server;
let executorUrl = '';
const tokens: Array<{ token: string; task: string }> = [];
let flakyCalls = 0;

const settings = () => ephemeralSettings({ dataDir, commandTasks: true });

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> {
  const response = await fetch(`${runtime.apiUrl}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as Json) : {} };
}

const execution = async (id: string) =>
  (await api('GET', `/v1/executions/${id}`)).body as unknown as ExecutionView;
const ended = (id: string) =>
  until(`execution ${id} to end`, async () => {
    const view = await execution(id);
    return view.status === 'RUNNING' ? undefined : view;
  });
const tokenFor = (task: string) =>
  until(`a callback token for ${task}`, async () => {
    const index = tokens.findIndex((entry) => entry.task === task);
    return index < 0 ? undefined : tokens.splice(index, 1)[0]?.token;
  });
const taskOf = (view: ExecutionView, name: string) => {
  const run = view.tasks.find((task) => task.task === name);
  assert.ok(run, `no task run ${name} in ${JSON.stringify(view.tasks.map((t) => t.task))}`);
  return run;
};

async function createFlow(descriptor: Json): Promise<string> {
  const created = await api('POST', '/v1/flows', descriptor);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return created.body.id as string;
}

async function start(flowId: string, parameters: Json = {}): Promise<string> {
  const started = await api('POST', `/v1/flows/${flowId}/executions`, { parameters });
  assert.equal(started.status, 201, JSON.stringify(started.body));
  return started.body.id as string;
}

describe('flow engine through the native API', () => {
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'sluice-engine-'));
    executor = createServer((request, response) => {
      let text = '';
      request.on('data', (chunk) => {
        text += chunk;
      });
      request.on('end', () => {
        const body = (text ? JSON.parse(text) : {}) as Json;
        const reply = (status: number, payload: unknown) =>
          response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
        switch (request.url) {
          case '/add':
            return reply(200, { sum: Number(body.left) + Number(body.right) });
          case '/double':
            return reply(200, { doubled: Number(body.value) * 2 });
          case '/flaky':
            flakyCalls += 1;
            return flakyCalls < 3 ? reply(503, { busy: true }) : reply(200, { calls: flakyCalls });
          case '/slow':
            return void setTimeout(() => reply(200, {}), 3000);
          case '/callback':
            tokens.push({ token: String(body.token), task: String(body.task) });
            return reply(200, { accepted: true });
          default:
            return reply(404, {});
        }
      });
    });
    await new Promise<void>((resolve) => executor.listen(0, '127.0.0.1', resolve));
    executorUrl = `http://127.0.0.1:${(executor.address() as AddressInfo).port}`;
    runtime = await startLocalRuntime(settings());
  });
  after(async () => {
    await runtime.stop();
    executor.closeAllConnections();
    executor.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('runs a non-series-parallel DAG of http, command, choice, foreach and async tasks to completion', async () => {
    const flowId = await createFlow({
      name: 'mixed',
      parameters: { left: 600, right: 424, items: [{ value: 1 }, { value: 2 }, { value: 3 }] },
      tasks: [
        {
          name: 'add',
          kind: 'http',
          url: `${executorUrl}/add`,
          input: [
            { source: '$.context.left', target: '$.input.left' },
            { source: '$.context.right', target: '$.input.right' },
          ],
          output: [{ source: '$.output.sum', target: '$.context.sum' }],
        },
        { name: 'warm-up', kind: 'pass' },
        {
          name: 'size',
          kind: 'choice',
          dependsOn: ['add'],
          input: [{ source: '$.context.sum', target: '$.input.sum' }],
          branches: [{ condition: '$.input[?(@.sum > 1000)]', next: ['big'] }],
          otherwise: ['small'],
        },
        {
          name: 'big',
          kind: 'command',
          dependsOn: ['size'],
          command: 'echo big ${sum}',
          input: [{ source: '$.context.sum', target: '$.input.sum' }],
        },
        { name: 'small', kind: 'pass', dependsOn: ['size'] },
        {
          name: 'each',
          kind: 'foreach',
          dependsOn: ['warm-up'],
          items: '$.input.items',
          maxConcurrency: 2,
          tasks: [
            {
              name: 'double',
              kind: 'http',
              url: `${executorUrl}/double`,
              input: [{ source: '$.item.value', target: '$.input.value' }],
              output: [{ source: '$.output.doubled', target: '$.context.doubled' }],
            },
          ],
        },
        {
          name: 'approve',
          kind: 'async',
          dependsOn: ['add', 'warm-up'],
          url: `${executorUrl}/callback`,
          output: [{ source: '$.output.approved_by', target: '$.context.approved_by' }],
        },
        {
          name: 'flaky',
          kind: 'http',
          dependsOn: ['approve'],
          url: `${executorUrl}/flaky`,
          retry: { maxRetries: 3, intervalSeconds: 0 },
        },
        { name: 'finish', kind: 'pass', dependsOn: ['big', 'small', 'each', 'flaky'] },
      ],
    });
    const asl = await api('GET', `/v1/flows/${flowId}/asl`);
    assert.equal(asl.status, 200);
    assert.ok(JSON.stringify(asl.body).includes('approve'));

    const id = await start(flowId, { right: 500 });
    const token = await tokenFor('approve');
    assert.equal(taskOf(await execution(id), 'approve').status, 'WAITING');
    const completed = await api('POST', '/v1/tasks/complete', { token, output: { approved_by: 'ops' } });
    assert.deepEqual(completed.body, { delivered: true });
    const again = await api('POST', '/v1/tasks/complete', { token, output: {} });
    assert.equal(again.status, 200, 'a duplicate completion is harmless');
    assert.equal(again.body.delivered, false);

    const view = await ended(id);
    assert.equal(view.status, 'SUCCEEDED', JSON.stringify(view.error));
    assert.equal(view.progress, 100);
    assert.equal(taskOf(view, 'small').status, 'SKIPPED');
    assert.equal(taskOf(view, 'big').status, 'SUCCEEDED');
    assert.equal(taskOf(view, 'flaky').attempts, 3);
    for (const index of [0, 1, 2]) assert.equal(taskOf(view, `each[${index}].double`).status, 'SUCCEEDED');

    const context = (await api('GET', `/v1/executions/${id}/context`)).body;
    assert.equal(context.sum, 1100, 'start parameters override the flow defaults');
    assert.equal(context.approved_by, 'ops');
    assert.ok([2, 4, 6].includes(context.doubled as number));

    const logs = (await api('GET', `/v1/executions/${id}/logs?task=big&limit=100`)).body;
    const output = (logs.items as Array<{ logger: string; message: string }>).map((entry) => entry.message);
    assert.ok(output.includes('big 1100'), `command output in the task log: ${JSON.stringify(logs)}`);
    const errors = (await api('GET', `/v1/executions/${id}/logs?level=WARN&keyword=attempt`)).body;
    assert.equal((errors.items as unknown[]).length, 2, 'two failed attempts of flaky were logged');
  });

  it('merges the branches of a choice with an `any` join, and skips an `all` join after one', async () => {
    const flowId = await createFlow({
      name: 'joins',
      tasks: [
        {
          name: 'pick',
          kind: 'choice',
          input: [{ source: '$.context.size', target: '$.input.size' }],
          branches: [{ condition: '$.input[?(@.size > 10)]', next: ['big'] }],
          otherwise: ['small'],
        },
        { name: 'big', kind: 'pass', dependsOn: ['pick'] },
        { name: 'small', kind: 'pass', dependsOn: ['pick'] },
        { name: 'merge-any', kind: 'pass', dependsOn: ['big', 'small'], join: 'any' },
        { name: 'merge-all', kind: 'pass', dependsOn: ['big', 'small'] },
        { name: 'after-any', kind: 'pass', dependsOn: ['merge-any'] },
      ],
    });
    const view = await ended(await start(flowId, { size: 3 }));
    assert.equal(view.status, 'SUCCEEDED');
    assert.equal(taskOf(view, 'big').status, 'SKIPPED');
    assert.equal(taskOf(view, 'small').status, 'SUCCEEDED');
    assert.equal(taskOf(view, 'merge-any').status, 'SUCCEEDED');
    assert.equal(taskOf(view, 'merge-all').status, 'SKIPPED');
    assert.equal(taskOf(view, 'after-any').status, 'SUCCEEDED');
  });

  it('fails a task that exceeds its timeout and names it in the execution error', async () => {
    const flowId = await createFlow({
      name: 'too-slow',
      tasks: [{ name: 'slow', kind: 'http', url: `${executorUrl}/slow`, timeoutSeconds: 1 }],
    });
    const view = await ended(await start(flowId));
    assert.equal(view.status, 'FAILED');
    assert.equal(taskOf(view, 'slow').status, 'FAILED');
    assert.match(JSON.stringify(view.error), /slow/);
  });

  it('judges a command by its exit code: a listed code succeeds, another fails the task with it', async () => {
    const flowId = await createFlow({
      name: 'exit-codes',
      tasks: [
        {
          name: 'three',
          kind: 'command',
          command: 'echo partial; exit 3',
          successExitCodes: [0, 3],
          retry: { maxRetries: 2, intervalSeconds: 0 },
        },
        { name: 'four', kind: 'command', command: 'exit 4', dependsOn: ['three'] },
      ],
    });
    const view = await ended(await start(flowId));
    assert.equal(view.status, 'FAILED');
    assert.equal(taskOf(view, 'three').status, 'SUCCEEDED');
    const ran = (await api('GET', `/v1/executions/${view.id}/logs?task=three&keyword=partial`)).body;
    assert.equal((ran.items as unknown[]).length, 1, 'a success exit code is not retried as a failure');
    const four = taskOf(view, 'four');
    assert.equal(four.status, 'FAILED');
    assert.match(four.error?.cause ?? '', /command exited with 4/);
    assert.equal(view.error?.error, 'Sluice.TaskFailed');
    assert.match(JSON.stringify(view.error), /four/);
  });

  it('runs a subflow with the task input as its context and returns its final context', async () => {
    const childId = await createFlow({
      name: 'child',
      tasks: [
        {
          name: 'sum',
          kind: 'http',
          url: `${executorUrl}/add`,
          input: [
            { source: '$.context.left', target: '$.input.left' },
            { source: '$.context.right', target: '$.input.right' },
          ],
          output: [{ source: '$.output.sum', target: '$.context.total' }],
        },
      ],
    });
    const parentId = await createFlow({
      name: 'parent',
      parameters: { a: 20, b: 22 },
      tasks: [
        {
          name: 'delegate',
          kind: 'subflow',
          flowId: childId,
          input: [
            { source: '$.context.a', target: '$.input.left' },
            { source: '$.context.b', target: '$.input.right' },
          ],
          output: [{ source: '$.output.context.total', target: '$.context.answer' }],
        },
      ],
    });
    const view = await ended(await start(parentId));
    assert.equal(view.status, 'SUCCEEDED', JSON.stringify(view.error));
    assert.equal((await api('GET', `/v1/executions/${view.id}/context`)).body.answer, 42);
    const children = (await api('GET', `/v1/executions?flowId=${childId}`)).body.items as ExecutionView[];
    assert.equal(children.length, 1);
    assert.equal(children[0]?.status, 'SUCCEEDED');
  });

  it('stops a running execution and resumes it from where it stopped', async () => {
    const flowId = await createFlow({
      name: 'stoppable',
      tasks: [
        { name: 'first', kind: 'pass', output: [{ value: 1, target: '$.context.first' }] },
        { name: 'gate', kind: 'async', dependsOn: ['first'], url: `${executorUrl}/callback` },
        { name: 'last', kind: 'pass', dependsOn: ['gate'] },
      ],
    });
    const id = await start(flowId);
    await tokenFor('gate');
    const stopped = await api('POST', `/v1/executions/${id}/stop`, { cause: 'operator' });
    assert.equal(stopped.status, 200);
    assert.equal((await execution(id)).status, 'STOPPED');
    assert.equal(
      (await api('POST', `/v1/executions/${id}/stop`, {})).status,
      409,
      'only a running execution stops',
    );

    const resumed = await api('POST', `/v1/executions/${id}/resume`);
    assert.equal(resumed.status, 200, JSON.stringify(resumed.body));
    const token = await tokenFor('gate');
    await api('POST', '/v1/tasks/complete', { token, output: {} });
    const view = await ended(id);
    assert.equal(view.status, 'SUCCEEDED');
    assert.equal(taskOf(view, 'first').attempts, 1, 'the finished task did not run again');
  });

  it('loses nothing when the server restarts mid-run: the execution resumes', async () => {
    const flowId = await createFlow({
      name: 'survivor',
      tasks: [
        { name: 'before', kind: 'pass', output: [{ value: 'kept', target: '$.context.before' }] },
        { name: 'wait-for-me', kind: 'async', dependsOn: ['before'], url: `${executorUrl}/callback` },
      ],
    });
    const id = await start(flowId);
    await tokenFor('wait-for-me');
    await runtime.stop();
    runtime = await startLocalRuntime(settings());

    const token = await tokenFor('wait-for-me');
    assert.equal((await execution(id)).status, 'RUNNING');
    await api('POST', '/v1/tasks/complete', { token, output: {} });
    const view = await ended(id);
    assert.equal(view.status, 'SUCCEEDED');
    assert.equal(taskOf(view, 'before').attempts, 1);
    assert.equal((await api('GET', `/v1/executions/${id}/context`)).body.before, 'kept');
  });

  it('refuses invalid flows with every problem named, and unknown tokens with 404', async () => {
    const refused = await api('POST', '/v1/flows', {
      name: 'broken',
      tasks: [
        { name: 'a', kind: 'pass', dependsOn: ['c'] },
        { name: 'b', kind: 'pass', dependsOn: ['a'] },
        { name: 'c', kind: 'pass', dependsOn: ['b'] },
        { name: 'd', kind: 'pass', dependsOn: ['nope'] },
      ],
    });
    assert.equal(refused.status, 400);
    const text = JSON.stringify(refused.body);
    assert.match(text, /cycle/);
    assert.match(text, /nope/);
    assert.equal(Array.isArray((await api('GET', '/v1/flows')).body.items), true);
    assert.equal((await api('POST', '/v1/tasks/complete', { token: 'no-such-token' })).status, 404);
  });
});
