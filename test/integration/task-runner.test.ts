import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { FetchHttpCaller } from '../../lambdas/adapters/fetch-http-caller.ts';
import { type ContextStore, inlineContextLimit } from '../../lambdas/core/engine/context-store.ts';
import type { EngineRecords, ExecutionRecord } from '../../lambdas/core/engine/records.ts';
import { RunnerError, TaskRunner } from '../../lambdas/core/engine/runner.ts';
import type { RunResult } from '../../lambdas/core/engine/task-actions.ts';
import { type FlowDescriptor, flowDescriptorSchema } from '../../lambdas/core/flow/model.ts';
import { runnerRequestSchema } from '../../lambdas/handlers/task-runner.ts';
import type { Orchestrator } from '../../lambdas/ports/orchestrator.ts';
import { startEngineStores } from '../support/engine-stores.ts';

/**
 * The task runner against real stores (dynalite, s3rver) and a real HTTP
 * executor; the orchestrator is a recorder, since this suite drives the
 * runner's actions directly in the orders a state machine may produce.
 */

class RecordingOrchestrator implements Orchestrator {
  released: Array<{ token: string; output: unknown }> = [];
  async deploy() {
    return { id: 'sm' };
  }
  async start() {}
  async stop() {}
  async redrive() {}
  async sendTaskSuccess(token: string, output: unknown) {
    this.released.push({ token, output });
  }
  async sendTaskFailure() {}
  async sendTaskHeartbeat() {}
}

let stores: Awaited<ReturnType<typeof startEngineStores>>;
let records: EngineRecords;
let contexts: ContextStore;
let orchestrator: RecordingOrchestrator;
let runner: TaskRunner;
let executor: Server;
let executorUrl = '';
const received: unknown[] = [];
const descriptors = new Map<string, FlowDescriptor>();
let sequence = 0;

/** Step Functions' context object (`$$`) as a state of execution `id` sees it. */
const stepFunctionsContext = (
  id: string,
  state: string,
  { retry = 0, token }: { retry?: number; token?: string } = {},
) => ({
  Execution: {
    Id: `arn:aws:states:eu-west-1:123456789012:execution:sm:${id}`,
    Input: { executionId: id },
    Name: id,
    RoleArn: 'arn:aws:iam::123456789012:role/sm',
    StartTime: '2026-01-01T00:00:00.000Z',
    RedriveCount: 0,
  },
  State: { EnteredTime: '2026-01-01T00:00:01.000Z', Name: state, RetryCount: retry },
  StateMachine: { Id: 'arn:aws:states:eu-west-1:123456789012:stateMachine:sm', Name: 'sm' },
  ...(token ? { Task: { Token: token } } : {}),
});

async function newExecution(document: unknown, context: Record<string, unknown> = {}): Promise<string> {
  sequence += 1;
  const id = `exec-${sequence}`;
  const descriptor = flowDescriptorSchema.parse(document);
  descriptors.set(id, descriptor);
  const execution: ExecutionRecord = {
    id,
    flowId: `flow-${sequence}`,
    flowVersion: 1,
    tenant: 't',
    status: 'RUNNING',
    parameters: {},
    startedAt: new Date().toISOString(),
    stateMachine: { id: 'sm' },
  };
  await records.createExecution(execution);
  await contexts.update(id, () => context);
  return id;
}

describe('task runner', () => {
  before(async () => {
    stores = await startEngineStores('runner');
    records = stores.records;
    contexts = stores.contexts;
    executor = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk) => {
        body += chunk;
      });
      request.on('end', () => {
        received.push(JSON.parse(body || 'null'));
        const input = JSON.parse(body || '{}') as { left?: number; right?: number; fail?: boolean };
        if (request.url === '/fail') {
          response.writeHead(500).end('{"reason":"boom"}');
          return;
        }
        if (request.url === '/text') {
          response.writeHead(200, { 'content-type': 'text/plain' }).end('plain words');
          return;
        }
        response
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ result_number: (input.left ?? 0) + (input.right ?? 0) }));
      });
    });
    await new Promise<void>((resolve) => executor.listen(0, '127.0.0.1', resolve));
    executorUrl = `http://127.0.0.1:${(executor.address() as AddressInfo).port}`;
  });
  after(async () => {
    executor.close();
    await stores.stop();
  });
  beforeEach(() => {
    orchestrator = new RecordingOrchestrator();
    runner = new TaskRunner({
      records,
      contexts,
      orchestrator,
      http: new FetchHttpCaller(),
      descriptorOf: async (execution) => descriptors.get(execution.id) as FlowDescriptor,
      startChild: async () => {
        throw new Error('no subflows in this suite');
      },
    });
  });

  it('runs an http task with mappings and writes its output into the context', async () => {
    const id = await newExecution(
      {
        name: 'sum',
        tasks: [
          {
            name: 'add',
            kind: 'http',
            url: `${executorUrl}/add`,
            input: [
              { source: '$.context.left', target: '$.input.left' },
              { source: '$.context.right', target: '$.input.right' },
            ],
            output: [{ source: '$.output.result_number', target: '$.context.result_number' }],
          },
        ],
      },
      { left: 512, right: 512 },
    );
    await runner.handle({ action: 'run', executionId: id, task: 'add', attempt: 0 });
    assert.equal((await contexts.read(id)).result_number, 1024);
    const run = await records.getRun(id, 'add');
    assert.equal(run?.status, 'SUCCEEDED');
    assert.deepEqual(run?.output, { result_number: 1024 });
    assert.deepEqual(received.at(-1), { left: 512, right: 512 });
  });

  it('opens a join gate only when every upstream arrived, whichever comes first', async () => {
    const id = await newExecution({
      name: 'join',
      tasks: [
        { name: 'a', kind: 'pass' },
        { name: 'b', kind: 'pass' },
        { name: 'c', kind: 'pass', dependsOn: ['a', 'b'] },
      ],
    });
    await runner.handle({ action: 'run', executionId: id, task: 'a', attempt: 0 });
    await runner.handle({ action: 'await', executionId: id, task: 'c', token: 'token-c' });
    assert.deepEqual(orchestrator.released, [], 'one upstream is not enough');
    await runner.handle({ action: 'run', executionId: id, task: 'b', attempt: 0 });
    assert.deepEqual(orchestrator.released, [{ token: 'token-c', output: { skip: false } }]);
    // A duplicated signal (retried or redriven upstream) releases nothing twice.
    await runner.handle({ action: 'run', executionId: id, task: 'b', attempt: 0 });
    assert.equal(orchestrator.released.length, 1);
    // A redriven await gets a new token and is released at once.
    await runner.handle({ action: 'await', executionId: id, task: 'c', token: 'token-c2' });
    assert.deepEqual(orchestrator.released.at(-1), { token: 'token-c2', output: { skip: false } });
  });

  it('skips the branches a choice did not take, and everything below a skipped task', async () => {
    const id = await newExecution(
      {
        name: 'choose',
        tasks: [
          {
            name: 'pick',
            kind: 'choice',
            branches: [{ condition: '$.input[?(@.size > 10)]', next: ['big'] }],
            otherwise: ['small'],
          },
          { name: 'big', kind: 'pass', dependsOn: ['pick'] },
          { name: 'small', kind: 'pass', dependsOn: ['pick'] },
          { name: 'after-big', kind: 'pass', dependsOn: ['big'] },
        ],
      },
      { size: 3 },
    );
    await runner.handle({ action: 'await', executionId: id, task: 'big', token: 't-big' });
    await runner.handle({ action: 'await', executionId: id, task: 'small', token: 't-small' });
    await runner.handle({ action: 'run', executionId: id, task: 'pick', attempt: 0 });
    const byToken = new Map(orchestrator.released.map((r) => [r.token, r.output]));
    assert.deepEqual(byToken.get('t-big'), { skip: true });
    assert.deepEqual(byToken.get('t-small'), { skip: false });

    await runner.handle({ action: 'await', executionId: id, task: 'after-big', token: 't-after' });
    await runner.handle({ action: 'run', executionId: id, task: 'big', attempt: 0, skip: true });
    assert.equal((await records.getRun(id, 'big'))?.status, 'SKIPPED');
    assert.deepEqual(orchestrator.released.at(-1), { token: 't-after', output: { skip: true } });
  });

  it('skips everything downstream of a return task whose condition holds', async () => {
    const id = await newExecution(
      {
        name: 'early-return',
        tasks: [
          { name: 'check', kind: 'return', condition: '$.input[?(@.done == true)]' },
          { name: 'rest', kind: 'pass', dependsOn: ['check'] },
        ],
      },
      { done: true },
    );
    await runner.handle({ action: 'await', executionId: id, task: 'rest', token: 't-rest' });
    await runner.handle({ action: 'run', executionId: id, task: 'check', attempt: 0 });
    assert.deepEqual(orchestrator.released, [{ token: 't-rest', output: { skip: true } }]);
  });

  it('records each failed attempt and fails the task for good after its last retry', async () => {
    const id = await newExecution({
      name: 'failing',
      tasks: [{ name: 'flaky', kind: 'http', url: `${executorUrl}/fail`, retry: { maxRetries: 1 } }],
    });
    await assert.rejects(
      runner.handle({ action: 'run', executionId: id, task: 'flaky', attempt: 0 }),
      (error) => {
        assert.ok(error instanceof RunnerError);
        assert.equal(error.name, 'Sluice.AttemptFailed');
        return true;
      },
    );
    assert.equal((await records.getRun(id, 'flaky'))?.status, 'RUNNING');
    await assert.rejects(
      runner.handle({ action: 'run', executionId: id, task: 'flaky', attempt: 1 }),
      (error) => {
        assert.ok(error instanceof RunnerError);
        assert.equal(error.name, 'Sluice.TaskFailed');
        assert.match(error.message, /Task flaky failed: HTTP 500/);
        return true;
      },
    );
    const run = await records.getRun(id, 'flaky');
    assert.equal(run?.status, 'FAILED');
    assert.equal(run?.attempts, 2);
    const logs = await records.listLogs(id, {});
    assert.ok(
      logs.items.some((entry) => entry.data.level === 'ERROR' && /flaky failed/.test(entry.data.message)),
    );
  });

  it('wraps a non-object response and checks success conditions', async () => {
    const id = await newExecution({
      name: 'conditions',
      tasks: [
        { name: 'text', kind: 'http', url: `${executorUrl}/text` },
        {
          name: 'strict',
          kind: 'http',
          url: `${executorUrl}/add`,
          successCondition: '$.output[?(@.result_number > 100)]',
        },
      ],
    });
    await runner.handle({ action: 'run', executionId: id, task: 'text', attempt: 0 });
    assert.deepEqual((await records.getRun(id, 'text'))?.output, { data: 'plain words' });
    await assert.rejects(
      runner.handle({ action: 'run', executionId: id, task: 'strict', attempt: 0 }),
      /success condition .* did not match/,
    );
  });

  it('prepares a command with its parameters shell-quoted and completes it by exit code', async () => {
    const id = await newExecution(
      {
        name: 'cmd',
        tasks: [
          {
            name: 'echo',
            kind: 'command',
            command: 'echo ${who}',
            input: [{ source: '$.context.who', target: '$.input.who' }],
            successExitCodes: [0, 3],
          },
        ],
      },
      { who: "o'hara" },
    );
    const prepared = (await runner.handle({
      action: 'run',
      executionId: id,
      task: 'echo',
      attempt: 0,
    })) as RunResult;
    assert.deepEqual(prepared, {
      done: false,
      prepared: { command: `(echo 'o'\\''hara'); code=$?; case $code in 3) exit 0;; esac; exit $code` },
    });
    await runner.handle({ action: 'complete', executionId: id, task: 'echo', result: { exitCode: 3 } });
    assert.equal((await records.getRun(id, 'echo'))?.status, 'SUCCEEDED');

    const failing = await newExecution({
      name: 'cmd2',
      tasks: [{ name: 'x', kind: 'command', command: 'false' }],
    });
    await runner.handle({ action: 'run', executionId: failing, task: 'x', attempt: 0 });
    await assert.rejects(
      runner.handle({
        action: 'complete',
        executionId: failing,
        task: 'x',
        result: { Containers: [{ ExitCode: 1 }] },
      }),
      /command exited with 1/,
    );
    assert.equal((await records.getRun(failing, 'x'))?.status, 'FAILED');
  });

  it('reads the exit code from a failed container step and honours successExitCodes', async () => {
    const id = await newExecution({
      name: 'ecs',
      tasks: [
        { name: 'ok3', kind: 'command', command: 'exit 3', successExitCodes: [0, 3] },
        { name: 'bad', kind: 'command', command: 'exit 2' },
      ],
    });
    const ecsFailure = (code: number) => ({
      Error: 'States.TaskFailed',
      Cause: JSON.stringify({ Containers: [{ ExitCode: code }], StopCode: 'EssentialContainerExited' }),
    });
    for (const task of ['ok3', 'bad'])
      await runner.handle({ action: 'run', executionId: id, task, attempt: 0 });
    await runner.handle({ action: 'complete', executionId: id, task: 'ok3', failure: ecsFailure(3) });
    assert.equal((await records.getRun(id, 'ok3'))?.status, 'SUCCEEDED');
    await assert.rejects(
      runner.handle({ action: 'complete', executionId: id, task: 'bad', failure: ecsFailure(2) }),
      /Task bad failed: command exited with 2/,
    );
    const bad = await records.getRun(id, 'bad');
    assert.equal(bad?.status, 'FAILED');
    // The same failure step re-entered by RedriveExecution after a resume: the task runs again.
    assert.deepEqual(
      await runner.handle({
        action: 'complete',
        executionId: id,
        task: 'bad',
        failure: ecsFailure(2),
        redriveCount: 1,
      }),
      { rerun: true },
    );
    // …but a repeated delivery within the same run still fails it.
    await assert.rejects(
      runner.handle({
        action: 'complete',
        executionId: id,
        task: 'bad',
        failure: ecsFailure(2),
        redriveCount: 0,
      }),
      /command exited with 2/,
    );
  });

  it('runs foreach iterations in their own scope with the item mapped in', async () => {
    const id = await newExecution(
      {
        name: 'fan',
        tasks: [
          {
            name: 'each',
            kind: 'foreach',
            items: '$.input.users',
            tasks: [
              { name: 'greet', kind: 'pass', input: [{ source: '$.item.name', target: '$.input.name' }] },
              { name: 'after', kind: 'pass', dependsOn: ['greet'] },
            ],
          },
        ],
      },
      { users: [{ name: 'ann' }, { name: 'bob' }] },
    );
    const prepared = (await runner.handle({
      action: 'run',
      executionId: id,
      task: 'each',
      attempt: 0,
    })) as RunResult;
    assert.deepEqual(prepared.prepared?.indices, [0, 1]);
    await runner.handle({ action: 'run', executionId: id, task: 'greet', scope: 'each[1]', attempt: 0 });
    assert.deepEqual((await records.getRun(id, 'each[1].greet'))?.output, { name: 'bob' });
    await runner.handle({
      action: 'await',
      executionId: id,
      task: 'after',
      scope: 'each[1]',
      token: 't-after-1',
    });
    assert.deepEqual(orchestrator.released, [{ token: 't-after-1', output: { skip: false } }]);
    await runner.handle({
      action: 'await',
      executionId: id,
      task: 'after',
      scope: 'each[0]',
      token: 't-after-0',
    });
    assert.equal(orchestrator.released.length, 1, 'iteration 0 has its own gate');
  });

  it('reads state payloads (the context object, named by its state) as compiled states send them', async () => {
    const id = await newExecution(
      {
        name: 'payloads',
        tasks: [
          { name: 'a', kind: 'pass' },
          { name: 'b', kind: 'pass', dependsOn: ['a'] },
          {
            name: 'each',
            kind: 'foreach',
            items: '$.input.users',
            tasks: [
              { name: 'greet', kind: 'pass', input: [{ source: '$.item.name', target: '$.input.name' }] },
            ],
          },
        ],
      },
      { users: [{ name: 'ann' }, { name: 'bob' }] },
    );
    // Through the Lambda edge's schema, which keeps what the runner reads of the context object.
    const viaEdge = (payload: unknown) => runner.handle(runnerRequestSchema.parse(payload));
    await viaEdge(stepFunctionsContext(id, 'b:await', { token: 'token-b' }));
    await viaEdge(stepFunctionsContext(id, 'a'));
    assert.deepEqual(orchestrator.released, [{ token: 'token-b', output: { skip: false } }]);
    await viaEdge({ c: stepFunctionsContext(id, 'b', { retry: 1 }), g: { skip: false } });
    const b = await records.getRun(id, 'b');
    assert.equal(b?.status, 'SUCCEEDED');
    assert.equal(b?.attempts, 2, "the attempt is the state's retry count");
    const prepared = (await viaEdge(stepFunctionsContext(id, 'each'))) as RunResult;
    assert.deepEqual(prepared.prepared?.indices, [0, 1]);
    await viaEdge({ c: stepFunctionsContext(id, 'each.greet'), scope: 'each[1]' });
    assert.deepEqual((await records.getRun(id, 'each[1].greet'))?.output, { name: 'bob' });
    await viaEdge(stepFunctionsContext(id, 'each:complete'));
    assert.equal((await records.getRun(id, 'each'))?.status, 'SUCCEEDED');
    // States that are no runner state of the flow, or sent without what the state needs, are refused.
    const refused = (pattern: RegExp) => (error: unknown) =>
      error instanceof Error && error.name === 'Sluice.BadPayload' && pattern.test(error.message);
    await assert.rejects(
      viaEdge(stepFunctionsContext(id, 'each.greet')),
      refused(/runs in each, not in scope/),
    );
    await assert.rejects(
      viaEdge({ c: stepFunctionsContext(id, 'a'), scope: 'each[0]' }),
      refused(/runs in no foreach/),
    );
    await assert.rejects(viaEdge(stepFunctionsContext(id, 'each:each')), refused(/no runner state/));
    await assert.rejects(viaEdge(stepFunctionsContext(id, 'nope')), refused(/no runner state/));
    await assert.rejects(viaEdge(stepFunctionsContext(id, 'b:await')), refused(/sent no task token/));
    assert.equal(runnerRequestSchema.safeParse({ State: { Name: 'a', RetryCount: 0 } }).success, false);
  });

  it('keeps parallel output mappings and moves a large context to the blob store', async () => {
    const tasks = Array.from({ length: 8 }, (_, index) => ({
      name: `t${index}`,
      kind: 'pass' as const,
      input: [{ value: index, target: '$.input.value' }],
      output: [{ source: '$.output.value', target: `$.context.results.t${index}` }],
    }));
    const id = await newExecution({ name: 'parallel', tasks }, { big: 'x'.repeat(inlineContextLimit + 10) });
    await Promise.all(
      tasks.map((task) => runner.handle({ action: 'run', executionId: id, task: task.name, attempt: 0 })),
    );
    const context = await contexts.read(id);
    assert.deepEqual(context.results, { t0: 0, t1: 1, t2: 2, t3: 3, t4: 4, t5: 5, t6: 6, t7: 7 });
    assert.equal((context.big as string).length, inlineContextLimit + 10);
  });
});
