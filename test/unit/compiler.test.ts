import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { stateTarget } from '../../lambdas/core/engine/state-names.ts';
import { isDomainError } from '../../lambdas/core/errors.ts';
import { flowDescriptorSchema } from '../../lambdas/core/flow/model.ts';
import type { AslDefinition } from '../../lambdas/ports/orchestrator.ts';
import {
  ASYNC_RETRY_ERRORS,
  type CompileOptions,
  compileFlow,
  definitionBytes,
  FLOW_STATE,
  RUNNER_RETRY_ERRORS,
  SERVICE_RETRY_ERRORS,
} from '../../statemachines/compile.ts';
import { compileLayeredBaseline } from '../../statemachines/layered-baseline.ts';

/** asl-validator ships no types: its JS API, as documented in its README. */
const aslValidator = createRequire(import.meta.url)('asl-validator') as (
  definition: unknown,
  options?: { checkPaths?: boolean; checkArn?: boolean },
) => { isValid: boolean; errorsText: (separator?: string) => string };

type TaskInput = Record<string, unknown> & { name: string };
type State = Record<string, unknown>;

const RUNNER = 'arn:aws:lambda:eu-west-1:123456789012:function:sluice-runner';
const OPTIONS: CompileOptions = {
  runnerFunction: RUNNER,
  ecsCluster: 'sluice',
  ecsTaskDefinition: 'sluice-command:1',
  ecsSubnets: ['subnet-1'],
};

const flowOf = (tasks: TaskInput[]) => flowDescriptorSchema.parse({ name: 'demo', tasks });

/** asl-validator's JS API (paths and ARNs checked) on a copy: it writes QueryLanguage into every state. */
function assertValidAsl(definition: AslDefinition): void {
  const { isValid, errorsText } = aslValidator(structuredClone(definition), {
    checkPaths: true,
    checkArn: true,
  });
  assert.ok(isValid, `asl-validator: ${errorsText('\n')}`);
}

/** Compiles and checks the definition with asl-validator, as every test here does. */
function compile(tasks: TaskInput[], options: CompileOptions = OPTIONS): AslDefinition {
  const definition = compileFlow(flowOf(tasks), options);
  assertValidAsl(definition);
  return definition;
}

/** Every state, nested ones included, by name. */
function statesOf(definition: { States: Record<string, unknown> }): Map<string, State> {
  const found = new Map<string, State>();
  for (const [name, value] of Object.entries(definition.States)) {
    const state = value as State;
    assert.ok(!found.has(name), `duplicate state name ${name}`);
    found.set(name, state);
    const nested = [
      ...((state.Branches as AslDefinition[] | undefined) ?? []),
      ...(state.ItemProcessor ? [state.ItemProcessor as AslDefinition] : []),
    ];
    for (const inner of nested) {
      for (const [innerName, innerState] of statesOf(inner)) {
        assert.ok(!found.has(innerName), `duplicate state name ${innerName}`);
        found.set(innerName, innerState);
      }
    }
  }
  return found;
}

const stateOf = (definition: AslDefinition, name: string): State => {
  const state = statesOf(definition).get(name);
  assert.ok(state, `no state ${name}`);
  return state;
};

const top = (definition: AslDefinition) =>
  definition.States[FLOW_STATE] as State & { Branches: AslDefinition[] };

/**
 * A runner state's Parameters: the context object `$$` alone, or next to the
 * state's own input (task-actions.ts). Task and action come from the state's name.
 */
const runnerParameters = (input: State = {}) =>
  Object.keys(input).length === 0
    ? { 'FunctionName.$': '$.fn', 'Payload.$': '$$' }
    : { 'FunctionName.$': '$.fn', Payload: { 'c.$': '$$', ...input } };

describe('compileFlow: layout', () => {
  it('gives every task a branch of one Parallel; a task with upstreams first waits at its gate', () => {
    const definition = compile([
      { name: 'a', kind: 'http', url: 'http://example.com/a' },
      { name: 'b', kind: 'pass', dependsOn: ['a'] },
    ]);
    assert.equal(definition.StartAt, FLOW_STATE);
    const parallel = top(definition);
    assert.equal(parallel.Type, 'Parallel');
    assert.deepEqual(parallel.Parameters, { fn: RUNNER });
    assert.equal(parallel.ResultPath, null);
    assert.equal(parallel.End, true);
    assert.deepEqual(parallel.Branches[0], {
      StartAt: 'a',
      States: {
        a: {
          Type: 'Task',
          Comment: 'a: runs the http task',
          Resource: 'arn:aws:states:::lambda:invoke',
          Parameters: runnerParameters(),
          ResultSelector: {},
          End: true,
        },
      },
    });
    assert.deepEqual(parallel.Branches[1], {
      StartAt: 'b:await',
      States: {
        'b:await': {
          Type: 'Task',
          Comment: 'b: waits for its upstream',
          Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
          Parameters: runnerParameters(),
          ResultPath: '$.gate',
          Next: 'b',
        },
        b: {
          Type: 'Task',
          Comment: 'b: runs the pass task',
          Resource: 'arn:aws:states:::lambda:invoke',
          Parameters: runnerParameters({ 'g.$': '$.gate' }),
          ResultSelector: {},
          End: true,
        },
      },
    });
  });

  it('emits branches in topological order and joins any DAG without layers', () => {
    // a→c, a→d, b→d (no series-parallel form), written downstream-first.
    const definition = compile([
      { name: 'd', kind: 'pass', dependsOn: ['a', 'b'] },
      { name: 'c', kind: 'pass', dependsOn: ['a'] },
      { name: 'b', kind: 'pass' },
      { name: 'a', kind: 'pass' },
    ]);
    const branches = top(definition).Branches;
    assert.deepEqual(
      branches.map((branch) => branch.StartAt),
      ['b', 'a', 'd:await', 'c:await'],
    );
    assert.equal(stateOf(definition, 'd:await').Comment, 'd: waits for its 2 upstreams');
    assert.equal(Object.keys(definition.States).length, 1);
  });

  it('runs choice and return tasks inline, like http and pass', () => {
    const definition = compile([
      { name: 'in', kind: 'pass' },
      {
        name: 'route',
        kind: 'choice',
        dependsOn: ['in'],
        branches: [{ condition: '$.input[?(@.x > 1)]', next: ['big'] }],
      },
      { name: 'big', kind: 'return', dependsOn: ['route'], condition: '$.input[?(@.stop)]' },
    ]);
    assert.deepEqual(
      [...statesOf(definition).keys()],
      [FLOW_STATE, 'in', 'route:await', 'route', 'big:await', 'big'],
    );
    assert.equal(stateOf(definition, 'route').Comment, 'route: runs the choice task');
  });
});

describe('compileFlow: external kinds', () => {
  /** The states of an external task's branch after T:await, in order. */
  const externalStates = (definition: AslDefinition, task: string) =>
    [...statesOf(definition).keys()].filter((name) => name === task || name.startsWith(`${task}:`));

  const prepare = (definition: AslDefinition, task: string) => stateOf(definition, task);

  it('prepares in T, ends at T:done when the runner says done, else runs the step and completes', () => {
    const definition = compile([
      { name: 'job', kind: 'command', command: 'echo hello', timeoutSeconds: 600 },
    ]);
    assert.deepEqual(externalStates(definition, 'job'), [
      'job',
      'job:done?',
      'job:done',
      'job:container',
      'job:failed',
      'job:rerun?',
      'job:complete',
    ]);
    assert.deepEqual(prepare(definition, 'job'), {
      Type: 'Task',
      Comment: 'job: prepares the command task',
      Resource: 'arn:aws:states:::lambda:invoke',
      Parameters: runnerParameters(),
      ResultSelector: { 'Payload.$': '$.Payload' },
      ResultPath: '$.run',
      Next: 'job:done?',
    });
    assert.deepEqual(stateOf(definition, 'job:done?'), {
      Type: 'Choice',
      Comment: 'job: ends here if skipped or done before',
      Choices: [{ Variable: '$.run.Payload.done', BooleanEquals: true, Next: 'job:done' }],
      Default: 'job:container',
    });
    assert.deepEqual(stateOf(definition, 'job:done'), {
      Type: 'Pass',
      Comment: 'job: nothing left to run',
      Result: {},
      End: true,
    });
    assert.deepEqual(stateOf(definition, 'job:complete'), {
      Type: 'Task',
      Comment: 'job: records the exit code',
      Resource: 'arn:aws:states:::lambda:invoke',
      Parameters: runnerParameters({ 'r.$': '$.result' }),
      ResultSelector: {},
      End: true,
    });
    // A failed step (after its retries) goes to the runner, which records the task FAILED.
    assert.deepEqual(stateOf(definition, 'job:failed'), {
      Type: 'Task',
      Comment: 'job: records why the command step failed',
      Resource: 'arn:aws:states:::lambda:invoke',
      Parameters: runnerParameters({ 'failure.$': '$.failure' }),
      ResultSelector: { 'rerun.$': '$.Payload.rerun' },
      ResultPath: '$.recovery',
      Next: 'job:rerun?',
    });
    // A resumed execution (RedriveExecution restarts at the failed state) prepares the task again.
    assert.deepEqual(stateOf(definition, 'job:rerun?'), {
      Type: 'Choice',
      Comment: 'job: runs the task again after a resume',
      Choices: [{ Variable: '$.recovery.rerun', BooleanEquals: true, Next: 'job' }],
      Default: 'job:done',
    });
  });

  it('runs commands on ECS with the prepared script, the task size and the configured cluster', () => {
    const definition = compile([
      {
        name: 'job',
        kind: 'command',
        command: 'make',
        cpu: 1,
        memoryGiB: 2,
        timeoutSeconds: 600,
        retry: { maxRetries: 2 },
      },
    ]);
    assert.deepEqual(top(definition).Parameters, {
      fn: RUNNER,
      ecs: {
        cluster: 'sluice',
        taskDefinition: 'sluice-command:1',
        launchType: 'FARGATE',
        network: { AwsvpcConfiguration: { Subnets: ['subnet-1'], AssignPublicIp: 'DISABLED' } },
      },
    });
    assert.deepEqual(stateOf(definition, 'job:container'), {
      Type: 'Task',
      Comment: 'job: runs the command on ECS',
      Resource: 'arn:aws:states:::ecs:runTask.sync',
      Parameters: {
        'Cluster.$': '$.ecs.cluster',
        'TaskDefinition.$': '$.ecs.taskDefinition',
        'LaunchType.$': '$.ecs.launchType',
        'NetworkConfiguration.$': '$.ecs.network',
        Overrides: {
          Cpu: '1024',
          Memory: '2048',
          ContainerOverrides: [
            {
              Name: 'command',
              'Command.$': "States.Array('sh', '-c', $.run.Payload.prepared.command)",
              Environment: [
                { Name: 'SLUICE_EXECUTION_ID', 'Value.$': '$$.Execution.Name' },
                { Name: 'SLUICE_TASK', Value: 'job' },
              ],
            },
          ],
        },
      },
      ResultSelector: { 'exitCode.$': '$.Containers[0].ExitCode' },
      ResultPath: '$.result',
      TimeoutSeconds: 600,
      Retry: [{ ErrorEquals: [...SERVICE_RETRY_ERRORS], MaxAttempts: 2, IntervalSeconds: 1, BackoffRate: 1 }],
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: 'job:failed' }],
      Next: 'job:complete',
    });
  });

  it('waits on a token for async tasks, with heartbeat, timeout and retries', () => {
    const definition = compile([
      { name: 'up', kind: 'pass' },
      {
        name: 'cb',
        kind: 'async',
        dependsOn: ['up'],
        heartbeatSeconds: 30,
        timeoutSeconds: 3600,
        retry: { maxRetries: 3, intervalSeconds: 5, backoffRate: 2 },
      },
    ]);
    assert.deepEqual(externalStates(definition, 'cb'), [
      'cb:await',
      'cb',
      'cb:done?',
      'cb:done',
      'cb:async',
      'cb:failed',
      'cb:rerun?',
      'cb:complete',
    ]);
    assert.deepEqual(stateOf(definition, 'cb:async'), {
      Type: 'Task',
      Comment: 'cb: waits for the callback',
      Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
      Parameters: runnerParameters(),
      ResultPath: '$.result',
      HeartbeatSeconds: 30,
      TimeoutSeconds: 3600,
      Retry: [{ ErrorEquals: [...ASYNC_RETRY_ERRORS], MaxAttempts: 3, IntervalSeconds: 5, BackoffRate: 2 }],
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: 'cb:failed' }],
      Next: 'cb:complete',
    });
    // The preparation is retried by the same policy (the runner counts its attempts), without the step's timeout.
    const run = stateOf(definition, 'cb');
    assert.deepEqual(run.Parameters, runnerParameters({ 'g.$': '$.gate' }));
    assert.deepEqual(run.Retry, [
      { ErrorEquals: [...RUNNER_RETRY_ERRORS], MaxAttempts: 3, IntervalSeconds: 5, BackoffRate: 2 },
    ]);
    assert.equal(run.TimeoutSeconds, undefined);
  });

  it('invokes user functions named by the runner', () => {
    const definition = compile([{ name: 'fx', kind: 'lambda', functionName: 'my-fn', timeoutSeconds: 60 }]);
    assert.deepEqual(stateOf(definition, 'fx:lambda'), {
      Type: 'Task',
      Comment: 'fx: invokes the function',
      Resource: 'arn:aws:states:::lambda:invoke',
      Parameters: {
        'FunctionName.$': '$.run.Payload.prepared.functionName',
        'Payload.$': '$.run.Payload.prepared.payload',
      },
      ResultSelector: { 'Payload.$': '$.Payload' },
      ResultPath: '$.result',
      TimeoutSeconds: 60,
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: 'fx:failed' }],
      Next: 'fx:complete',
    });
  });

  it('waits until the prepared time, or on a token for a wake-up call', () => {
    const definition = compile([
      { name: 'nap', kind: 'wait', seconds: 30 },
      { name: 'hold', kind: 'wait', wakeUp: true, timeoutSeconds: 86_400 },
    ]);
    assert.deepEqual(stateOf(definition, 'nap:wait'), {
      Type: 'Wait',
      Comment: 'nap: waits until the prepared time',
      TimestampPath: '$.run.Payload.prepared.until',
      Next: 'nap:complete',
    });
    // No result to record: the context object alone.
    assert.deepEqual(stateOf(definition, 'nap:complete').Parameters, runnerParameters());
    const hold = stateOf(definition, 'hold:wait');
    assert.equal(hold.Resource, 'arn:aws:states:::lambda:invoke.waitForTaskToken');
    assert.deepEqual(hold.Parameters, runnerParameters());
    assert.equal(hold.TimeoutSeconds, 86_400);
    assert.equal(hold.Comment, 'hold: waits for a wake-up call');
  });

  it('starts subflows, waiting (.sync:2) or not, as the child the runner recorded', () => {
    const definition = compile([
      { name: 'sub', kind: 'subflow', flowId: 'child-flow', timeoutSeconds: 900, retry: { maxRetries: 1 } },
      { name: 'fire', kind: 'subflow', flowId: 'other', wait: false, timeoutSeconds: 900 },
    ]);
    const childName = '$.run.Payload.prepared.executionId';
    assert.deepEqual(stateOf(definition, 'sub:subflow'), {
      Type: 'Task',
      Comment: 'sub: runs subflow child-flow and waits',
      Resource: 'arn:aws:states:::states:startExecution.sync:2',
      Parameters: {
        'StateMachineArn.$': '$.run.Payload.prepared.stateMachineArn',
        'Name.$': childName,
        Input: {
          'executionId.$': childName,
          'AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$': '$$.Execution.Id',
        },
      },
      ResultSelector: { 'executionArn.$': '$.ExecutionArn' },
      ResultPath: '$.result',
      TimeoutSeconds: 900,
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: 'sub:failed' }],
      Next: 'sub:complete',
    });
    const fire = stateOf(definition, 'fire:subflow');
    assert.equal(fire.Resource, 'arn:aws:states:::states:startExecution');
    assert.equal((fire.Parameters as State)['Name.$'], '$.run.Payload.prepared.executionId');
    assert.equal(fire.TimeoutSeconds, undefined, 'a subflow it does not wait for has nothing to time out');
  });

  it('maps a foreach over the prepared indices, each item running the sub-graph with its scope', () => {
    const definition = compile([
      { name: 'load', kind: 'pass' },
      {
        name: 'fan',
        kind: 'foreach',
        dependsOn: ['load'],
        items: '$.input.files',
        maxConcurrency: 5,
        tasks: [
          { name: 'load', kind: 'pass' },
          { name: 'parse', kind: 'command', command: 'parse', dependsOn: ['load'] },
          {
            name: 'rows',
            kind: 'foreach',
            dependsOn: ['parse'],
            items: '$.input.rows',
            tasks: [{ name: 'row', kind: 'http', url: 'http://example.com/row' }],
          },
        ],
      },
    ]);
    const each = stateOf(definition, 'fan:each');
    assert.equal(each.Type, 'Map');
    assert.equal(each.ItemsPath, '$.run.Payload.prepared.indices');
    assert.equal(each.MaxConcurrency, 5);
    assert.equal(each.ResultPath, null);
    assert.equal(each.Next, 'fan:complete');
    assert.deepEqual(each.ItemSelector, {
      'fn.$': '$.fn',
      'ecs.$': '$.ecs',
      'scope.$': "States.Format('fan[{}]', $$.Map.Item.Value)",
    });
    const processor = each.ItemProcessor as AslDefinition & { ProcessorConfig: unknown };
    assert.deepEqual(processor.ProcessorConfig, { Mode: 'INLINE' });
    assert.equal(processor.StartAt, 'fan:tasks');
    const inner = processor.States['fan:tasks'] as State & { Branches: AslDefinition[] };
    assert.equal(inner.Type, 'Parallel');
    assert.deepEqual(inner.ResultSelector, {});
    assert.deepEqual(
      inner.Branches.map((branch) => branch.StartAt),
      ['fan.load', 'fan.parse:await', 'fan.rows:await'],
    );
    // Inner tasks are addressed by their state's name plus the iteration's scope.
    assert.deepEqual(stateOf(definition, 'fan.load').Parameters, runnerParameters({ 'scope.$': '$.scope' }));
    assert.deepEqual(
      stateOf(definition, 'fan.parse').Parameters,
      runnerParameters({ 'scope.$': '$.scope', 'g.$': '$.gate' }),
    );
    assert.deepEqual(
      (
        stateOf(definition, 'fan.parse:container').Parameters as {
          Overrides: { ContainerOverrides: State[] };
        }
      ).Overrides.ContainerOverrides[0]?.Environment,
      [
        { Name: 'SLUICE_EXECUTION_ID', 'Value.$': '$$.Execution.Name' },
        { Name: 'SLUICE_TASK', 'Value.$': "States.Format('{}.parse', $.scope)" },
      ],
    );
    // A nested foreach extends the scope: fan[3].rows[0].
    assert.equal(
      (stateOf(definition, 'fan.rows:each').ItemSelector as State)['scope.$'],
      "States.Format('{}.rows[{}]', $.scope, $$.Map.Item.Value)",
    );
    assert.ok(statesOf(definition).has('fan.rows.row'));
  });
});

describe('compileFlow: conventions', () => {
  const everyKind: TaskInput[] = [
    { name: 'h', kind: 'http', url: 'http://example.com' },
    { name: 'p', kind: 'pass', dependsOn: ['h'] },
    {
      name: 'c',
      kind: 'choice',
      dependsOn: ['p'],
      branches: [{ condition: '$.input[?(@.a)]', next: ['r'] }],
    },
    { name: 'r', kind: 'return', dependsOn: ['c'], condition: '$.input[?(@.b)]' },
    { name: 'a', kind: 'async', dependsOn: ['p'] },
    { name: 'x', kind: 'command', command: 'true', dependsOn: ['a', 'r'] },
    { name: 'l', kind: 'lambda', functionName: 'f', dependsOn: ['a'] },
    { name: 'w', kind: 'wait', seconds: 1 },
    { name: 'k', kind: 'wait', wakeUp: true, dependsOn: ['w'] },
    { name: 's', kind: 'subflow', flowId: 'f2', dependsOn: ['l', 'x'] },
    { name: 'f', kind: 'foreach', items: '$.input.list', tasks: [{ name: 'i', kind: 'pass' }] },
  ];

  it('gives every state a comment naming the task it serves', () => {
    const definition = compile(everyKind);
    assert.match(String(definition.Comment), /one branch each/);
    for (const [name, state] of statesOf(definition)) {
      assert.equal(typeof state.Comment, 'string', `${name} has a Comment`);
      // `fan.load:await` serves task load (of foreach fan); `fan:tasks` serves fan.
      const task = name === FLOW_STATE ? undefined : (name.split(':')[0] as string).split('.').at(-1);
      if (task) assert.ok(String(state.Comment).startsWith(`${task}`), `${name}: ${state.Comment}`);
    }
  });

  it('ends every branch with an empty output so Parallel and Map results stay small', () => {
    const definition = compile(everyKind);
    for (const [name, state] of statesOf(definition)) {
      if (state.End !== true || name === FLOW_STATE) continue;
      if (state.Type === 'Pass') assert.deepEqual(state.Result, {}, name);
      else assert.deepEqual(state.ResultSelector, {}, name);
      assert.equal(state.ResultPath, undefined, name);
    }
  });

  it('maps retry policies and timeouts, and never retries the final Sluice.TaskFailed', () => {
    const definition = compile([
      { name: 'none', kind: 'http', url: 'http://example.com' },
      { name: 'zero', kind: 'http', url: 'http://example.com', retry: { maxRetries: 0 } },
      {
        name: 'some',
        kind: 'http',
        url: 'http://example.com',
        retry: { maxRetries: 4, intervalSeconds: 10, backoffRate: 1.5 },
        timeoutSeconds: 45,
      },
    ]);
    assert.equal(stateOf(definition, 'none').Retry, undefined);
    assert.equal(stateOf(definition, 'none').TimeoutSeconds, undefined);
    assert.equal(stateOf(definition, 'zero').Retry, undefined);
    assert.deepEqual(stateOf(definition, 'some').Retry, [
      {
        ErrorEquals: ['Sluice.AttemptFailed', 'Sluice.TaskTimedOut', 'States.Timeout'],
        MaxAttempts: 4,
        IntervalSeconds: 10,
        BackoffRate: 1.5,
      },
    ]);
    assert.equal(stateOf(definition, 'some').TimeoutSeconds, 45);
    const retried = compile(
      everyKind.map((task) => ({ ...task, retry: { maxRetries: 2 }, timeoutSeconds: 30 })),
    );
    let retriers = 0;
    for (const [name, state] of statesOf(retried)) {
      for (const retry of (state.Retry as Array<{ ErrorEquals: string[] }> | undefined) ?? []) {
        retriers += 1;
        assert.ok(!retry.ErrorEquals.includes('Sluice.TaskFailed'), name);
        assert.ok(!retry.ErrorEquals.includes('States.ALL'), name);
      }
    }
    assert.ok(retriers >= everyKind.length);
  });

  it('keeps state names unique and within 80 characters, the runner mapping them to the real names', () => {
    const long = `t${'x'.repeat(79)}`;
    const longer = `t${'x'.repeat(78)}y`;
    const tasks = [
      { name: long, kind: 'async' },
      { name: longer, kind: 'pass', dependsOn: [long] },
      { name: 'fan', kind: 'foreach', items: '$.input.list', tasks: [{ name: long, kind: 'pass' }] },
    ];
    const definition = compile(tasks);
    const names = [...statesOf(definition).keys()];
    for (const name of names) assert.ok(name.length <= 80, name);
    // Tags count in compile (topological) order: long, fan's inner long, longer.
    assert.ok(names.includes(`${long.slice(0, 68)}~0:complete`));
    assert.ok(names.includes(`fan.${long.slice(0, 64)}~1`));
    assert.ok(names.includes(`${longer.slice(0, 68)}~2:await`));
    // The runner reads state names against the descriptor with the compiler's naming.
    const descriptor = flowOf(tasks);
    assert.deepEqual(stateTarget(descriptor, `${longer.slice(0, 68)}~2`), {
      action: 'run',
      task: longer,
      foreach: [],
    });
    assert.deepEqual(stateTarget(descriptor, `${longer.slice(0, 68)}~2:await`), {
      action: 'await',
      task: longer,
      foreach: [],
    });
    assert.deepEqual(stateTarget(descriptor, `${long.slice(0, 68)}~0:async`), {
      action: 'start-async',
      task: long,
      foreach: [],
    });
    assert.deepEqual(stateTarget(descriptor, `${long.slice(0, 68)}~0:complete`), {
      action: 'complete',
      task: long,
      foreach: [],
    });
    assert.deepEqual(stateTarget(descriptor, `fan.${long.slice(0, 64)}~1`), {
      action: 'run',
      task: long,
      foreach: ['fan'],
    });
    // Steps that invoke no runner, and unknown states, stand for no action.
    assert.equal(stateTarget(descriptor, 'fan:each'), undefined);
    assert.equal(stateTarget(descriptor, `${long.slice(0, 68)}~0:done?`), undefined);
    assert.equal(stateTarget(descriptor, long), undefined);
    // Every runner state of the definition maps back to its task.
    for (const [name, state] of statesOf(definition)) {
      const parameters = state.Parameters as State | undefined;
      const runner = parameters?.['FunctionName.$'] === '$.fn';
      assert.equal(stateTarget(descriptor, name) !== undefined, runner, name);
    }
  });

  it('validates the flow first and refuses definitions over 1 MB, suggesting subflows', () => {
    assert.throws(
      () => compileFlow(flowOf([{ name: 'a', kind: 'pass', dependsOn: ['a'] }]), OPTIONS),
      (error: unknown) => isDomainError(error) && error.issues[0]?.message === 'cycle: a → a',
    );
    const big = Array.from({ length: 4000 }, (_, i) => ({
      name: `task-${i}`,
      kind: 'pass',
      dependsOn: i > 1 ? [`task-${i - 1}`, `task-${i - 2}`] : [],
    }));
    assert.throws(
      () => compileFlow(flowOf(big), OPTIONS),
      (error: unknown) => {
        assert.ok(isDomainError(error));
        assert.equal(error.kind, 'validation');
        assert.match(
          error.message,
          /^flow "demo" compiles to \d+ bytes > 1 MB, the Step Functions definition limit: split it into subflows/,
        );
        return true;
      },
    );
    const small = compileFlow(flowOf(big.slice(0, 1000)), OPTIONS);
    assert.ok(definitionBytes(small) < 1_048_576);
    assert.throws(
      () => compileFlow(flowOf(big.slice(0, 10)), { ...OPTIONS, maxBytes: 1000 }),
      /compiles to \d+ bytes > 1000 bytes/,
    );
  });

  it('needs an ECS cluster and task definition for command tasks', () => {
    assert.throws(
      () =>
        compileFlow(
          flowOf([
            {
              name: 'f',
              kind: 'foreach',
              items: '$.input.x',
              tasks: [{ name: 'c', kind: 'command', command: 'x' }],
            },
          ]),
          { runnerFunction: RUNNER },
        ),
      (error: unknown) =>
        isDomainError(error) &&
        error.kind === 'validation' &&
        error.issues[0]?.path === 'tasks.0.tasks.0.kind',
    );
  });
});

describe('layered baseline (benchmarks only)', () => {
  it('compiles one Parallel per topological level, without gates', () => {
    const definition = compileLayeredBaseline(
      flowOf([
        { name: 'a', kind: 'pass' },
        { name: 'b', kind: 'pass' },
        { name: 'c', kind: 'pass', dependsOn: ['a'] },
        { name: 'd', kind: 'http', url: 'http://example.com', dependsOn: ['a', 'b'] },
        { name: 'e', kind: 'pass', dependsOn: ['c'] },
      ]),
      OPTIONS,
    );
    assertValidAsl(definition);
    assert.deepEqual(Object.keys(definition.States), ['set up', 'level 0', 'level 1', 'level 2']);
    const level = (n: number) => definition.States[`level ${n}`] as State & { Branches: AslDefinition[] };
    assert.deepEqual(
      level(0).Branches.map((branch) => branch.StartAt),
      ['a', 'b'],
    );
    assert.deepEqual(
      level(1).Branches.map((branch) => branch.StartAt),
      ['c', 'd'],
    );
    assert.equal(level(1).Next, 'level 2');
    assert.equal(level(2).End, true);
    assert.ok(![...statesOf(definition).keys()].some((name) => name.endsWith(':await')));
  });
});
