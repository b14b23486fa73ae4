/**
 * The local orchestrator against the real interpreter (aws-local-stepfunctions):
 * small hand-written definitions that follow the state layout of
 * lambdas/core/engine/task-actions.ts (`T:await` and `T:async` wait on task
 * tokens, `T` runs, `T:container` is ecs:runTask.sync, `T:each` a Map,
 * subflows are states:startExecution.sync:2), run through real executions
 * with an in-test runner.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type CommandOutputEvent,
  LocalOrchestrator,
  type LocalOrchestratorOptions,
  shellScript,
} from '../../lambdas/adapters/local/local-orchestrator.ts';
import type { StateContext, StateInput, TaskAction } from '../../lambdas/core/engine/task-actions.ts';
import type { AslDefinition, ExecutionOutcome, StateMachineRef } from '../../lambdas/ports/orchestrator.ts';
import { TaskTokenNotFound } from '../../lambdas/ports/orchestrator.ts';

const RUNNER = 'arn:aws:lambda:us-east-1:000000000000:function:sluice-task-runner';
type State = Record<string, unknown>;

const next = (to: string | undefined) => (to ? { Next: to } : { End: true });

const payload = (task: string, action: string, extra: Record<string, unknown> = {}) => ({
  'executionId.$': '$$.Execution.Name',
  task,
  action,
  ...extra,
});

/** `T`: one runner call (`run`, attempt = the state's retry count). */
const runState = (task: string, to?: string, extra: State = {}): State => ({
  Type: 'Task',
  Comment: `runs ${task}`,
  Resource: 'arn:aws:states:::lambda:invoke',
  Parameters: { FunctionName: RUNNER, Payload: payload(task, 'run', { 'attempt.$': '$$.State.RetryCount' }) },
  ResultSelector: { 'result.$': '$.Payload' },
  ResultPath: `$.results.${task}`,
  ...next(to),
  ...extra,
});

/** `T:await` / `T:async`: the runner parks a task token; the state waits for it. */
const tokenState = (
  task: string,
  action: 'await' | 'start-async',
  to?: string,
  extra: State = {},
): State => ({
  Type: 'Task',
  Comment: `waits for ${task}`,
  Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
  Parameters: {
    FunctionName: RUNNER,
    Payload: payload(task, action, {
      'token.$': '$$.Task.Token',
      ...(action === 'start-async' ? { attempt: 0 } : {}),
    }),
  },
  ResultPath: `$.tokens.${task}`,
  ...next(to),
  ...extra,
});

const machine = (startAt: string, states: Record<string, State>): AslDefinition => ({
  Comment: 'hand-written test definition',
  StartAt: startAt,
  States: states,
});

interface Harness {
  orchestrator: LocalOrchestrator;
  calls: TaskAction[];
  ended: Array<{ executionId: string; outcome: ExecutionOutcome }>;
  output: CommandOutputEvent[];
  /** Deploys and starts one execution; resolves with its ref. */
  start: (definition: AslDefinition, executionId?: string) => Promise<StateMachineRef>;
}

let machines = 0;

function harness(
  runner: (action: TaskAction, orchestrator: LocalOrchestrator) => unknown = () => ({}),
  options: Partial<LocalOrchestratorOptions> = {},
): Harness {
  const calls: TaskAction[] = [];
  const ended: Harness['ended'] = [];
  const output: CommandOutputEvent[] = [];
  const orchestrator: LocalOrchestrator = new LocalOrchestrator({
    // These hand-written definitions send explicit TaskActions (compiled ones send `$$`, tested below).
    invokeRunner: async (request) => {
      const action = request as TaskAction;
      calls.push(action);
      return runner(action, orchestrator);
    },
    onExecutionEnded: async (executionId, outcome) => {
      ended.push({ executionId, outcome });
    },
    log: (event) => {
      if (event.type === 'command-output') output.push(event);
    },
    retryIntervalMs: 0,
    ...options,
  });
  return {
    orchestrator,
    calls,
    ended,
    output,
    start: async (definition, executionId = 'exec-1') => {
      machines += 1;
      const ref = await orchestrator.deploy(`test-machine-${machines}`, definition);
      await orchestrator.start(ref, executionId);
      return ref;
    },
  };
}

/** Polls until `predicate` holds (the runner is called asynchronously). */
async function until(predicate: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

/** The output of the harness's `exec-1`. */
const outputOf = <T = unknown>(h: Harness, ref: StateMachineRef): T =>
  h.orchestrator.describeExecution(ref, 'exec-1')?.output as T;

const tokenOf = (calls: TaskAction[], task: string): string => {
  const call = calls.find((c) => c.task === task && (c.action === 'await' || c.action === 'start-async'));
  assert.ok(call && 'token' in call, `no token call for ${task}`);
  return call.token;
};

const isTokenNotFound = (reason: 'unknown' | 'closed') => (error: unknown) => {
  assert.ok(error instanceof TaskTokenNotFound, `expected TaskTokenNotFound, got ${String(error)}`);
  assert.equal(error.kind, 'not-found');
  assert.equal(error.reason, reason);
  return true;
};

describe('local orchestrator: task tokens', { concurrency: true }, () => {
  test('a Parallel join: a task waits on a token released later by another branch', async () => {
    const h = harness(async (action, orchestrator) => {
      // A's run releases B's gate, as the last upstream of B would.
      if (action.task === 'A' && action.action === 'run') {
        await until(() => h.calls.some((c) => c.task === 'B' && c.action === 'await'), 'B:await');
        await orchestrator.sendTaskSuccess(tokenOf(h.calls, 'B'), { skip: false });
      }
      return { ok: action.task };
    });
    const ref = await h.start(
      machine('fork', {
        fork: {
          Type: 'Parallel',
          Branches: [
            { StartAt: 'A', States: { A: runState('A') } },
            { StartAt: 'B:await', States: { 'B:await': tokenState('B', 'await', 'B'), B: runState('B') } },
          ],
          ResultPath: '$.branches',
          Next: 'C',
        },
        C: runState('C'),
      }),
    );
    const outcome = await h.orchestrator.whenEnded(ref, 'exec-1');
    assert.deepEqual(outcome, { status: 'SUCCEEDED' });
    const order = h.calls.map((c) => `${c.task}:${c.action}`);
    assert.deepEqual([...order].sort(), ['A:run', 'B:await', 'B:run', 'C:run']);
    assert.ok(order.indexOf('B:run') > order.indexOf('A:run'), 'B runs after its gate opened');
    assert.equal(order.at(-1), 'C:run', 'C runs after the join');
    const output = outputOf<{ results: { C: unknown } }>(h, ref);
    assert.deepEqual(output.results.C, { result: { ok: 'C' } });
    assert.equal(h.ended.length, 1);
  });

  test('every Parallel branch starts at once (no 40-branch cap that would deadlock gates)', async () => {
    const width = 60;
    const h = harness(async (action, orchestrator) => {
      // Each gate opens only when all 60 are waiting: with 40 branches at a time this never happens.
      if (action.action === 'await' && h.calls.filter((c) => c.action === 'await').length === width) {
        for (const call of h.calls)
          if (call.action === 'await') await orchestrator.sendTaskSuccess(call.token, {});
      }
      return {};
    });
    const branches = Array.from({ length: width }, (_, i) => ({
      StartAt: `t${i}:await`,
      States: { [`t${i}:await`]: tokenState(`t${i}`, 'await', `t${i}`), [`t${i}`]: runState(`t${i}`) },
    }));
    const ref = await h.start(machine('all', { all: { Type: 'Parallel', Branches: branches, End: true } }));
    assert.deepEqual(await h.orchestrator.whenEnded(ref, 'exec-1'), { status: 'SUCCEEDED' });
    assert.equal(h.calls.filter((c) => c.action === 'run').length, width);
  });

  test('sendTaskSuccess output becomes the state result; a duplicate completion is harmless', async () => {
    const h = harness();
    const ref = await h.start(
      machine('X:async', { 'X:async': tokenState('X', 'start-async', 'X'), X: runState('X') }),
    );
    await until(() => h.calls.length === 1, 'X:async');
    const token = tokenOf(h.calls, 'X');
    assert.equal(typeof token, 'string');
    assert.notEqual(token, '');
    await h.orchestrator.sendTaskSuccess(token, { answer: 42 });
    await assert.rejects(h.orchestrator.sendTaskSuccess(token, { answer: 43 }), isTokenNotFound('closed'));
    await assert.rejects(h.orchestrator.sendTaskFailure(token, 'E', 'late'), isTokenNotFound('closed'));
    assert.deepEqual(await h.orchestrator.whenEnded(ref, 'exec-1'), { status: 'SUCCEEDED' });
    const output = outputOf<{ tokens: { X: unknown } }>(h, ref);
    assert.deepEqual(output.tokens.X, { answer: 42 });
    assert.equal(h.ended.length, 1);
  });

  test('a runner may complete its own token before it returns', async () => {
    const h = harness(async (action, orchestrator) => {
      if (action.action === 'start-async') {
        await orchestrator.sendTaskFailure(action.token, 'Remote.Refused', 'at once');
        await sleep(20);
      }
      return {};
    });
    const ref = await h.start(machine('X:async', { 'X:async': tokenState('X', 'start-async') }));
    assert.deepEqual(await h.orchestrator.whenEnded(ref, 'exec-1'), {
      status: 'FAILED',
      error: 'Remote.Refused',
      cause: 'at once',
    });
  });

  test('an unknown token is a not-found error', async () => {
    const h = harness();
    await assert.rejects(h.orchestrator.sendTaskSuccess('no-such-token', {}), isTokenNotFound('unknown'));
    await assert.rejects(
      h.orchestrator.sendTaskFailure('no-such-token', 'E', 'C'),
      isTokenNotFound('unknown'),
    );
    await assert.rejects(h.orchestrator.sendTaskHeartbeat('no-such-token'), isTokenNotFound('unknown'));
  });

  test('sendTaskFailure fails the state with its error and cause: Catch sees them, else the execution fails', async () => {
    const h = harness();
    const ref = await h.start(
      machine('X:async', {
        'X:async': tokenState('X', 'start-async', 'X', {
          Catch: [{ ErrorEquals: ['Remote.Refused'], ResultPath: '$.caught', Next: 'handled' }],
        }),
        X: runState('X'),
        handled: { Type: 'Pass', End: true },
      }),
    );
    await until(() => h.calls.length === 1, 'X:async');
    await h.orchestrator.sendTaskFailure(tokenOf(h.calls, 'X'), 'Remote.Refused', 'the callee said no');
    assert.deepEqual(await h.orchestrator.whenEnded(ref, 'exec-1'), { status: 'SUCCEEDED' });
    const output = outputOf<{ caught: unknown }>(h, ref);
    assert.deepEqual(output.caught, { Error: 'Remote.Refused', Cause: 'the callee said no' });

    const uncaught = harness();
    const ref2 = await uncaught.start(machine('X:async', { 'X:async': tokenState('X', 'start-async') }));
    await until(() => uncaught.calls.length === 1, 'X:async');
    await uncaught.orchestrator.sendTaskFailure(tokenOf(uncaught.calls, 'X'), 'Remote.Refused', 'no');
    assert.deepEqual(await uncaught.orchestrator.whenEnded(ref2, 'exec-1'), {
      status: 'FAILED',
      error: 'Remote.Refused',
      cause: 'no',
    });
    assert.deepEqual(uncaught.ended, [
      { executionId: 'exec-1', outcome: { status: 'FAILED', error: 'Remote.Refused', cause: 'no' } },
    ]);
  });

  test('heartbeats keep a waiting task alive past HeartbeatSeconds', async () => {
    const h = harness();
    const ref = await h.start(
      machine('X:async', { 'X:async': tokenState('X', 'start-async', undefined, { HeartbeatSeconds: 1 }) }),
    );
    await until(() => h.calls.length === 1, 'X:async');
    const token = tokenOf(h.calls, 'X');
    for (let i = 0; i < 4; i++) {
      await sleep(400);
      await h.orchestrator.sendTaskHeartbeat(token);
    }
    await h.orchestrator.sendTaskSuccess(token, { alive: true });
    assert.deepEqual(await h.orchestrator.whenEnded(ref, 'exec-1'), { status: 'SUCCEEDED' });
  });

  test('a missed heartbeat fails the state with States.HeartbeatTimeout (retryable)', async () => {
    const h = harness();
    const ref = await h.start(
      machine('X:async', {
        'X:async': tokenState('X', 'start-async', undefined, {
          HeartbeatSeconds: 1,
          Retry: [{ ErrorEquals: ['States.HeartbeatTimeout'], MaxAttempts: 1 }],
        }),
      }),
    );
    const outcome = await h.orchestrator.whenEnded(ref, 'exec-1');
    assert.equal(outcome.status, 'FAILED');
    assert.equal(outcome.error, 'States.HeartbeatTimeout');
    assert.equal(h.calls.length, 2, 'retried once, with a new token');
    assert.notEqual(tokenOf(h.calls, 'X'), (h.calls[1] as { token: string }).token);
    await assert.rejects(
      h.orchestrator.sendTaskSuccess(tokenOf(h.calls, 'X'), {}),
      isTokenNotFound('closed'),
    );
  });

  test('TimeoutSeconds fails a waiting state with States.Timeout and closes its token', async () => {
    const h = harness();
    const ref = await h.start(
      machine('X:async', {
        'X:async': tokenState('X', 'start-async', undefined, {
          TimeoutSeconds: 1,
          // States.TaskFailed does not match a timeout, as in Step Functions.
          Catch: [{ ErrorEquals: ['States.TaskFailed'], Next: 'wrong' }],
        }),
        wrong: { Type: 'Pass', End: true },
      }),
    );
    const started = Date.now();
    const outcome = await h.orchestrator.whenEnded(ref, 'exec-1');
    assert.equal(outcome.status, 'FAILED');
    assert.equal(outcome.error, 'States.Timeout');
    assert.ok(Date.now() - started < 3_000);
    await assert.rejects(
      h.orchestrator.sendTaskSuccess(tokenOf(h.calls, 'X'), {}),
      isTokenNotFound('closed'),
    );
  });
});

describe('local orchestrator: runner states', () => {
  test('Retry re-runs a failing Task state; $$.State.RetryCount is the attempt', async () => {
    let failures = 2;
    const h = harness((action) => {
      if (action.action === 'run' && failures > 0) {
        failures -= 1;
        throw Object.assign(new Error(`attempt ${action.attempt} failed`), { name: 'Sluice.AttemptFailed' });
      }
      return { done: true };
    });
    const ref = await h.start(
      machine('T', {
        T: runState('T', undefined, { Retry: [{ ErrorEquals: ['Sluice.AttemptFailed'], MaxAttempts: 3 }] }),
      }),
    );
    assert.deepEqual(await h.orchestrator.whenEnded(ref, 'exec-1'), { status: 'SUCCEEDED' });
    assert.deepEqual(
      h.calls.map((c) => (c.action === 'run' ? c.attempt : -1)),
      [0, 1, 2],
    );
  });

  test('a runner error fails the execution with the Lambda error shape, naming the task', async () => {
    const h = harness(() => {
      throw Object.assign(new Error('task T failed: exit 1'), { name: 'Sluice.TaskFailed' });
    });
    const ref = await h.start(
      machine('T', { T: runState('T', undefined, { Retry: [{ ErrorEquals: ['Sluice.AttemptFailed'] }] }) }),
    );
    const outcome = await h.orchestrator.whenEnded(ref, 'exec-1');
    assert.deepEqual(outcome, {
      status: 'FAILED',
      error: 'Sluice.TaskFailed',
      cause: JSON.stringify({ errorType: 'Sluice.TaskFailed', errorMessage: 'task T failed: exit 1' }),
    });
    assert.equal(h.calls.length, 1, 'a final failure is not retried');
  });

  test('a Map over indices runs its iteration states once per item, with the item in scope', async () => {
    const h = harness((action) => ({ scope: action.scope }));
    const ref = await h.start(
      machine('indices', {
        indices: { Type: 'Pass', Result: [0, 1, 2, 3, 4], ResultPath: '$.items', Next: 'fan:each' },
        'fan:each': {
          Type: 'Map',
          ItemsPath: '$.items',
          ItemSelector: { 'index.$': '$$.Map.Item.Value' },
          MaxConcurrency: 2,
          ItemProcessor: {
            ProcessorConfig: { Mode: 'INLINE' },
            StartAt: 'work',
            States: {
              work: {
                Type: 'Task',
                Resource: 'arn:aws:states:::lambda:invoke',
                Parameters: {
                  FunctionName: RUNNER,
                  Payload: {
                    'executionId.$': '$$.Execution.Name',
                    task: 'work',
                    action: 'run',
                    'scope.$': "States.Format('fan[{}]', $.index)",
                    'attempt.$': '$$.State.RetryCount',
                  },
                },
                OutputPath: '$.Payload',
                End: true,
              },
            },
          },
          ResultPath: '$',
          End: true,
        },
      }),
    );
    assert.deepEqual(await h.orchestrator.whenEnded(ref, 'exec-1'), { status: 'SUCCEEDED' });
    assert.deepEqual(h.calls.map((c) => c.scope).sort(), ['fan[0]', 'fan[1]', 'fan[2]', 'fan[3]', 'fan[4]']);
    assert.ok(h.calls.every((c) => c.executionId === 'exec-1' && c.action === 'run' && c.attempt === 0));
    // ResultPath "$" replaces the state's input with the Map's result.
    assert.deepEqual(h.orchestrator.describeExecution(ref, 'exec-1')?.output, [
      { scope: 'fan[0]' },
      { scope: 'fan[1]' },
      { scope: 'fan[2]' },
      { scope: 'fan[3]' },
      { scope: 'fan[4]' },
    ]);
  });

  test('a user Lambda state goes to invokeFunction, not to the runner', async () => {
    const invoked: Array<{ functionName: string; payload: unknown }> = [];
    const h = harness(() => ({}), {
      invokeFunction: async (functionName, payload) => {
        invoked.push({ functionName, payload });
        return { greeting: 'hi' };
      },
    });
    const ref = await h.start(
      machine('L:lambda', {
        'L:lambda': {
          Type: 'Task',
          Resource: 'arn:aws:states:::lambda:invoke',
          Parameters: { FunctionName: 'user-fn', Payload: { name: 'sluice' } },
          ResultSelector: { 'greeting.$': '$.Payload.greeting' },
          End: true,
        },
      }),
    );
    assert.deepEqual(await h.orchestrator.whenEnded(ref, 'exec-1'), { status: 'SUCCEEDED' });
    assert.deepEqual(invoked, [{ functionName: 'user-fn', payload: { name: 'sluice' } }]);
    assert.equal(h.calls.length, 0);
    assert.deepEqual(h.orchestrator.describeExecution(ref, 'exec-1')?.output, { greeting: 'hi' });
  });
});

/**
 * `T:container`: the command `T` prepared (here a Pass state, at `$.command`)
 * reaches the state as the ECS Command override.
 */
const containerState = (extra: State = {}): State => ({
  Type: 'Task',
  Resource: 'arn:aws:states:::ecs:runTask.sync',
  Parameters: {
    Cluster: 'sluice',
    TaskDefinition: 'sluice-command',
    LaunchType: 'FARGATE',
    Overrides: {
      ContainerOverrides: [
        {
          Name: 'command',
          'Command.$': "States.Array('sh', '-c', $.command)",
          Environment: [
            { Name: 'GREETING', Value: 'hello from sluice' },
            { Name: 'SLUICE_EXECUTION_ID', 'Value.$': '$$.Execution.Name' },
          ],
        },
      ],
    },
  },
  ResultSelector: { 'exitCode.$': '$.Containers[0].ExitCode' },
  ResultPath: '$.container',
  End: true,
  ...extra,
});

describe('local orchestrator: command states', { concurrency: true }, () => {
  test('runs the command with its environment in a temp dir and streams its lines', async () => {
    const h = harness();
    const ref = await h.start(
      machine('setup', {
        setup: {
          Type: 'Pass',
          Result: 'echo "$GREETING"; echo "id=$SLUICE_EXECUTION_ID"; pwd; echo oops >&2',
          ResultPath: '$.command',
          Next: 'T:container',
        },
        'T:container': containerState(),
      }),
    );
    assert.deepEqual(await h.orchestrator.whenEnded(ref, 'exec-1'), { status: 'SUCCEEDED' });
    const output = outputOf<{ container: unknown }>(h, ref);
    assert.deepEqual(output.container, { exitCode: 0 });
    const stdout = h.output.filter((e) => e.stream === 'stdout').map((e) => e.line);
    assert.deepEqual(stdout.slice(0, 2), ['hello from sluice', 'id=exec-1']);
    assert.match(stdout[2] ?? '', /sluice-command-/);
    assert.deepEqual(
      h.output.filter((e) => e.stream === 'stderr').map((e) => e.line),
      ['oops'],
    );
    assert.ok(h.output.every((e) => e.state === 'T:container' && e.executionId === 'exec-1'));
    assert.equal(h.output[0]?.environment.GREETING, 'hello from sluice');
  });

  test('a non-zero exit fails the state with States.TaskFailed and the exit code in the cause', async () => {
    const h = harness();
    const ref = await h.start(
      machine('setup', {
        setup: { Type: 'Pass', Result: 'echo failing; exit 3', ResultPath: '$.command', Next: 'T:container' },
        'T:container': containerState({
          Catch: [{ ErrorEquals: ['States.TaskFailed'], ResultPath: '$.error', Next: 'T:complete' }],
        }),
        'T:complete': { Type: 'Pass', End: true },
      }),
    );
    assert.deepEqual(await h.orchestrator.whenEnded(ref, 'exec-1'), { status: 'SUCCEEDED' });
    const { error } = outputOf<{ error: { Error: string; Cause: string } }>(h, ref);
    assert.equal(error.Error, 'States.TaskFailed');
    const task = JSON.parse(error.Cause) as { Containers: Array<{ ExitCode: number }>; LastStatus: string };
    assert.equal(task.Containers[0]?.ExitCode, 3);
    assert.equal(task.LastStatus, 'STOPPED');
  });

  test('a command that outlives TimeoutSeconds is killed and the state fails with States.Timeout', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-orchestrator-test-'));
    try {
      const h = harness();
      const pidFile = join(dir, 'pid');
      const ref = await h.start(
        machine('setup', {
          setup: {
            Type: 'Pass',
            Result: `echo $$ > ${pidFile}; sleep 30; echo survived`,
            ResultPath: '$.command',
            Next: 'T:container',
          },
          'T:container': containerState({ TimeoutSeconds: 1 }),
        }),
      );
      const outcome = await h.orchestrator.whenEnded(ref, 'exec-1');
      assert.equal(outcome.status, 'FAILED');
      assert.equal(outcome.error, 'States.Timeout');
      const pid = Number(await readFile(pidFile, 'utf8'));
      await until(() => !isAlive(pid), 'the command to be killed', 3_000);
      assert.ok(!h.output.some((e) => e.line === 'survived'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('an ECS Command that is not `sh -c` is shell-quoted', () => {
    assert.equal(shellScript(['sh', '-c', 'echo $HOME']), 'echo $HOME');
    assert.equal(shellScript(['/bin/bash', '-c', 'echo "$0"', 'x y']), `echo "$0" 'x y'`);
    assert.equal(shellScript(['python3', '-c', "print('hi')"]), `python3 -c 'print('\\''hi'\\'')'`);
  });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('local orchestrator: lifecycle', () => {
  test('stop mid-run: STOPPED with the cause, pending tokens rejected, nothing else runs', async () => {
    const h = harness();
    const ref = await h.start(
      machine('fork', {
        fork: {
          Type: 'Parallel',
          Branches: [
            {
              StartAt: 'A:async',
              States: { 'A:async': tokenState('A', 'start-async', 'A'), A: runState('A') },
            },
            { StartAt: 'B:await', States: { 'B:await': tokenState('B', 'await', 'B'), B: runState('B') } },
          ],
          Next: 'C',
        },
        C: runState('C'),
      }),
    );
    await until(() => h.calls.length === 2, 'both token states');
    await h.orchestrator.stop(ref, 'exec-1', 'user asked');
    assert.deepEqual(h.ended, [
      { executionId: 'exec-1', outcome: { status: 'STOPPED', cause: 'user asked' } },
    ]);
    await assert.rejects(
      h.orchestrator.sendTaskSuccess(tokenOf(h.calls, 'A'), {}),
      isTokenNotFound('closed'),
    );
    await assert.rejects(
      h.orchestrator.sendTaskSuccess(tokenOf(h.calls, 'B'), {}),
      isTokenNotFound('closed'),
    );
    await sleep(20);
    assert.equal(h.calls.length, 2, 'no state runs after the stop');
    // Stopping again, or an ended execution, is a no-op.
    await h.orchestrator.stop(ref, 'exec-1', 'again');
    assert.equal(h.ended.length, 1);
    assert.equal(h.orchestrator.describeExecution(ref, 'exec-1')?.status, 'STOPPED');
  });

  test('redrive after a failure calls the runner again under the same execution id', async () => {
    let broken = true;
    const h = harness((action) => {
      if (action.task === 'B' && broken) {
        throw Object.assign(new Error('B is broken'), { name: 'Sluice.TaskFailed' });
      }
      return {};
    });
    const ref = await h.start(
      machine('A', { A: runState('A', 'B'), B: runState('B', 'C'), C: runState('C') }),
    );
    const failed = await h.orchestrator.whenEnded(ref, 'exec-1');
    assert.equal(failed.status, 'FAILED');
    assert.equal(failed.error, 'Sluice.TaskFailed');
    assert.deepEqual(
      h.calls.map((c) => c.task),
      ['A', 'B'],
    );

    broken = false;
    await h.orchestrator.redrive(ref, 'exec-1');
    assert.deepEqual(await h.orchestrator.whenEnded(ref, 'exec-1'), { status: 'SUCCEEDED' });
    // The re-run starts over; the runner (not this test's) makes A a no-op.
    assert.deepEqual(
      h.calls.map((c) => c.task),
      ['A', 'B', 'A', 'B', 'C'],
    );
    assert.ok(h.calls.every((c) => c.executionId === 'exec-1'));
    assert.deepEqual(
      h.ended.map((e) => e.outcome.status),
      ['FAILED', 'SUCCEEDED'],
    );
    assert.equal(h.orchestrator.describeExecution(ref, 'exec-1')?.redriveCount, 1);
    await assert.rejects(h.orchestrator.redrive(ref, 'exec-1'), { kind: 'conflict' });
  });

  test('a stopped execution can be redriven', async () => {
    const h = harness();
    const ref = await h.start(machine('X:async', { 'X:async': tokenState('X', 'start-async') }));
    await until(() => h.calls.length === 1, 'X:async');
    await h.orchestrator.stop(ref, 'exec-1', 'pause');
    await h.orchestrator.redrive(ref, 'exec-1');
    await until(() => h.calls.length === 2, 'X:async again');
    await assert.rejects(h.orchestrator.redrive(ref, 'exec-1'), { kind: 'conflict' });
    await h.orchestrator.sendTaskSuccess((h.calls[1] as { token: string }).token, {});
    assert.deepEqual(await h.orchestrator.whenEnded(ref, 'exec-1'), { status: 'SUCCEEDED' });
    assert.deepEqual(
      h.ended.map((e) => e.outcome.status),
      ['STOPPED', 'SUCCEEDED'],
    );
  });

  test('start is idempotent per execution id, while running and after it ended', async () => {
    const h = harness();
    const ref = await h.start(machine('X:async', { 'X:async': tokenState('X', 'start-async') }));
    await h.orchestrator.start(ref, 'exec-1');
    await until(() => h.calls.length === 1, 'X:async');
    await h.orchestrator.start(ref, 'exec-1');
    await sleep(10);
    assert.equal(h.calls.length, 1);
    await h.orchestrator.sendTaskSuccess(tokenOf(h.calls, 'X'), {});
    await h.orchestrator.whenEnded(ref, 'exec-1');
    await h.orchestrator.start(ref, 'exec-1');
    await sleep(10);
    assert.equal(h.calls.length, 1);
    assert.equal(h.ended.length, 1);
    // Another id is another execution.
    await h.orchestrator.start(ref, 'exec-2');
    await until(() => h.calls.length === 2, 'exec-2');
    assert.equal(h.calls[1]?.executionId, 'exec-2');
    await h.orchestrator.stop(ref, 'exec-2', 'done');
  });

  test('onExecutionEnded is called once per run with the outcome, and a failing listener is contained', async () => {
    const warnings: string[] = [];
    let calls = 0;
    const orchestrator = new LocalOrchestrator({
      invokeRunner: async () => ({}),
      onExecutionEnded: async () => {
        calls += 1;
        throw new Error('listener broke');
      },
      log: (event) => {
        if (event.type === 'warning') warnings.push(event.message);
      },
    });
    const ref = await orchestrator.deploy('listener', machine('T', { T: runState('T') }));
    await orchestrator.start(ref, 'e');
    assert.deepEqual(await orchestrator.whenEnded(ref, 'e'), { status: 'SUCCEEDED' });
    assert.equal(calls, 1);
    assert.deepEqual(warnings, ['onExecutionEnded failed']);
  });

  test('a Fail state ends the execution FAILED with its error and cause', async () => {
    const h = harness();
    const ref = await h.start(
      machine('no', { no: { Type: 'Fail', Error: 'Sluice.Rejected', Cause: 'bad input' } }),
    );
    assert.deepEqual(await h.orchestrator.whenEnded(ref, 'exec-1'), {
      status: 'FAILED',
      error: 'Sluice.Rejected',
      cause: 'bad input',
    });
  });

  test('a subflow state starts a child execution and waits for it (startExecution.sync:2)', async () => {
    const h = harness((action) => ({ ran: `${action.executionId}/${action.task}` }));
    const child = await h.orchestrator.deploy('child-flow', machine('inner', { inner: runState('inner') }));
    const ref = await h.start(
      machine('S:subflow', {
        'S:subflow': {
          Type: 'Task',
          Resource: 'arn:aws:states:::states:startExecution.sync:2',
          Parameters: {
            StateMachineArn: child.id,
            'Name.$': "States.Format('{}-S', $$.Execution.Name)",
            Input: { 'executionId.$': "States.Format('{}-S', $$.Execution.Name)" },
          },
          ResultSelector: { 'status.$': '$.Status', 'output.$': '$.Output.results.inner' },
          End: true,
        },
      }),
    );
    assert.deepEqual(await h.orchestrator.whenEnded(ref, 'exec-1'), { status: 'SUCCEEDED' });
    assert.deepEqual(h.orchestrator.describeExecution(ref, 'exec-1')?.output, {
      status: 'SUCCEEDED',
      output: { result: { ran: 'exec-1-S/inner' } },
    });
    assert.deepEqual(
      h.ended.map((e) => e.executionId),
      ['exec-1-S', 'exec-1'],
    );
  });

  test('deploy rejects definitions it cannot run', async () => {
    const h = harness();
    await assert.rejects(
      h.orchestrator.deploy(
        'sqs',
        machine('Q', { Q: { Type: 'Task', Resource: 'arn:aws:states:::sqs:sendMessage', End: true } }),
      ),
      /not supported by the local orchestrator/,
    );
    await assert.rejects(
      h.orchestrator.deploy('broken', machine('missing', { A: { Type: 'Pass', Next: 'nowhere' } })),
      /invalid/i,
    );
    await assert.rejects(h.orchestrator.start({ id: 'arn:aws:states:local:0:stateMachine:nope' }, 'e'), {
      kind: 'not-found',
    });
  });

  test('definitions kept in definitionsDir survive a new orchestrator (a restarted dev server)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-definitions-'));
    try {
      const first = harness(() => ({}), { definitionsDir: dir });
      const ref = await first.orchestrator.deploy('kept', machine('T', { T: runState('T') }));
      const second = harness(() => ({}), { definitionsDir: dir });
      await second.orchestrator.start(ref, 'e');
      assert.deepEqual(await second.orchestrator.whenEnded(ref, 'e'), { status: 'SUCCEEDED' });
      assert.equal(second.calls.length, 1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** A flow of `width` tasks, each `T:await` + `T`, all in one Parallel. */
/** Branches as the compiler writes them: payloads are the context object `$$` (and the gate's result). */
function wideFlow(width: number): AslDefinition {
  const branches = Array.from({ length: width }, (_, i) => ({
    StartAt: `t${i}:await`,
    States: {
      [`t${i}:await`]: {
        Type: 'Task',
        Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
        Parameters: { FunctionName: RUNNER, 'Payload.$': '$$' },
        ResultPath: '$.gate',
        Next: `t${i}`,
      },
      [`t${i}`]: {
        Type: 'Task',
        Resource: 'arn:aws:states:::lambda:invoke',
        Parameters: { FunctionName: RUNNER, Payload: { 'c.$': '$$', 'g.$': '$.gate' } },
        ResultPath: null,
        End: true,
      },
    },
  }));
  return machine('all', { all: { Type: 'Parallel', Branches: branches, ResultPath: null, End: true } });
}

describe('local orchestrator: the context object in runner payloads', () => {
  test('"$$" resolves to the whole context: execution, state name, retry count and task token', async () => {
    const calls: StateContext[] = [];
    const inputs: StateInput[] = [];
    const orchestrator: LocalOrchestrator = new LocalOrchestrator({
      invokeRunner: async (request) => {
        if ('c' in request) {
          inputs.push(request);
          calls.push(request.c);
          // The first attempt of `t` fails: its retry enters the state again with RetryCount 1.
          if (request.c.State.RetryCount === 0)
            throw Object.assign(new Error('first attempt'), { name: 'Sluice.AttemptFailed' });
          return { done: true };
        }
        const context = request as StateContext;
        calls.push(context);
        await orchestrator.sendTaskSuccess(context.Task?.Token ?? '', { skip: true });
        return {};
      },
      onExecutionEnded: async () => {},
      retryIntervalMs: 0,
    });
    const definition = wideFlow(1);
    const run = ((definition.States.all as State).Branches as AslDefinition[])[0]?.States.t0 as State;
    run.Retry = [{ ErrorEquals: ['Sluice.AttemptFailed'], MaxAttempts: 1 }];
    const ref = await orchestrator.deploy('context', definition);
    await orchestrator.start(ref, 'exec-ctx');
    assert.deepEqual(await orchestrator.whenEnded(ref, 'exec-ctx'), { status: 'SUCCEEDED' });
    assert.deepEqual(
      calls.map((c) => [c.Execution.Name, c.State.Name, c.State.RetryCount]),
      [
        ['exec-ctx', 't0:await', 0],
        ['exec-ctx', 't0', 0],
        ['exec-ctx', 't0', 1],
      ],
    );
    assert.ok(calls[0]?.Task?.Token, 'the token state gets its task token');
    assert.equal(calls[1]?.Task?.Token, '', 'other states get no token');
    assert.deepEqual(
      inputs.map((input) => input.g),
      [{ skip: true }, { skip: true }],
    );
  });
});

describe('local orchestrator: engine overhead', () => {
  test('1,000 no-op tasks (T:await + T each) stay under 2 ms of engine time per task', async (t) => {
    const orchestrator: LocalOrchestrator = new LocalOrchestrator({
      // An instant runner: gates open at once, runs do nothing.
      invokeRunner: async (request) => {
        const token = 'c' in request ? undefined : (request as StateContext).Task?.Token;
        if (token) await orchestrator.sendTaskSuccess(token, { skip: false });
        return { skip: false };
      },
      onExecutionEnded: async () => {},
    });
    for (const width of [100, 1_000]) {
      const ref = await orchestrator.deploy(`wide-${width}`, JSON.parse(JSON.stringify(wideFlow(width))));
      await orchestrator.start(ref, 'warm-up');
      await orchestrator.whenEnded(ref, 'warm-up');
      const samples: number[] = [];
      for (let i = 0; i < 3; i++) {
        const started = performance.now();
        await orchestrator.start(ref, `run-${i}`);
        assert.deepEqual(await orchestrator.whenEnded(ref, `run-${i}`), { status: 'SUCCEEDED' });
        samples.push(performance.now() - started);
      }
      const best = Math.min(...samples);
      t.diagnostic(`${width} tasks: ${best.toFixed(1)} ms, ${(best / width).toFixed(3)} ms per task`);
      assert.ok(best / width < 2, `${(best / width).toFixed(3)} ms per task`);
    }
  });
});
