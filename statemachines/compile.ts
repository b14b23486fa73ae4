import { stateBases } from '../lambdas/core/engine/state-names.ts';
import { validationFailed } from '../lambdas/core/errors.ts';
import { buildGraph, topologicalOrder } from '../lambdas/core/flow/graph.ts';
import type { FlowDescriptor, RetryPolicy, Task } from '../lambdas/core/flow/model.ts';
import { validateFlow } from '../lambdas/core/flow/validate.ts';
import type { AslDefinition } from '../lambdas/ports/orchestrator.ts';

/**
 * Compiles a flow descriptor to Amazon States Language (JSONPath flavour,
 * Standard workflows) with **join gates on task tokens**: one `Parallel`
 * branch per task, so every task starts the moment all of its own upstreams
 * are done — never at a layer barrier — for any DAG, and the definition grows
 * linearly with the number of tasks (edges cost no definition bytes: the
 * runner counts arrivals at each gate). The states of a task T follow
 * lambdas/core/engine/task-actions.ts:
 *
 * - `T:await` (only when T has upstreams): `lambda:invoke.waitForTaskToken`
 *   with action `await`; the runner parks the token at T's gate and the last
 *   upstream to finish sends `{ skip }` (kept at `$.gate`).
 * - `T`: `lambda:invoke` with action `run`. Inline kinds (http, pass, choice,
 *   return) do all their work here and end the branch. External kinds only
 *   prepare here; the runner's RunResult (task-actions.ts) is kept at `$.run.Payload`:
 * - `T:done?`: a Choice that ends the branch at `T:done` when the runner
 *   answered `done` (T was skipped, or had finished before a redrive), so no
 *   container, Lambda or subflow starts for it; otherwise:
 * - the external step: `T:async`, `T:container`, `T:lambda`, `T:wait`,
 *   `T:subflow` or `T:each` (a Map over the prepared item indices whose
 *   iterations run the foreach's sub-graph the same way, each inner task
 *   addressed with the iteration's scope, e.g. `fan[3]`), then
 * - `T:complete`: action `complete` with the step's result at `$.result`.
 *
 * A task's retry policy applies to `T` (the final `Sluice.TaskFailed` is never
 * retried) and, for external kinds, to the external step too; its timeout to
 * the state doing the work: `T` for inline kinds, else the external step
 * (none for foreach, as a Map has no timeout field, nor for timed waits).
 *
 * Runner payloads carry no per-state constant (task-actions.ts): the
 * context object `$$` alone (`"Payload.$": "$$"`), or `{ "c.$": "$$", … }`
 * with the state's own input (`g`: the gate's result, `r`: the external
 * step's result, `scope`). The runner reads the execution id from
 * `Execution.Name` (executions are named by their id, see the Orchestrator
 * port), the attempt and token from `State.RetryCount` and `Task.Token`, and
 * the task and action from `State.Name`. Branch inputs carry only `fn` (the
 * runner), `ecs` (when the flow has command tasks) and, inside a foreach,
 * `scope`. Every branch ends with `{}`, so thousands of branches stay far
 * under the 256 KiB payload limit; the context lives outside states.
 *
 * State names are `<task>` and `<task>:<step>`; inside a foreach they are
 * prefixed with the foreach's name (`fan.load:await`) because state names
 * must be unique across the whole definition. A name that would pass Step
 * Functions' 80-character limit is cut and tagged `~<n>`. The runner maps a
 * state name back to its task with the same naming
 * (lambdas/core/engine/state-names.ts). Branches come in topological order.
 */
export function compileFlow(descriptor: FlowDescriptor, options: CompileOptions): AslDefinition {
  validateFlow(descriptor);
  const compiler = taskCompiler(descriptor, options, gatedSubgraph);
  const definition: AslDefinition = {
    Comment: `Sluice flow "${descriptor.name}": ${descriptor.tasks.length} tasks, one branch each; a task starts as soon as all of its upstreams are done (join gates on task tokens)`,
    StartAt: FLOW_STATE,
    States: {
      [FLOW_STATE]: {
        Type: 'Parallel',
        Comment:
          'Runs every task in its own branch; fn is the task runner every state invokes. Fails with the first task that fails for good.',
        Parameters: sharedParameters(descriptor, options),
        Branches: gatedBranches(descriptor.tasks, '', undefined, compiler),
        ResultPath: null,
        End: true,
      },
    },
  };
  checkSize(definition, descriptor, options);
  return definition;
}

export interface CompileOptions {
  /** Name or ARN of the task-runner Lambda that every Task state invokes. */
  runnerFunction: string;
  /** ECS cluster (name or ARN) running command tasks; required when the flow has one. */
  ecsCluster?: string;
  /** ECS task definition for command tasks; required when the flow has one. */
  ecsTaskDefinition?: string;
  /** Container of that task definition whose command is overridden; default `command`. */
  ecsContainerName?: string;
  /** Launch type of command tasks; default `FARGATE`. */
  ecsLaunchType?: 'FARGATE' | 'EC2';
  /** awsvpc networking of command tasks (Fargate needs subnets). */
  ecsSubnets?: readonly string[];
  ecsSecurityGroups?: readonly string[];
  ecsAssignPublicIp?: boolean;
  /** Definition size cap in bytes; default Step Functions' 1 MiB. */
  maxBytes?: number;
}

/** Step Functions' cap on a state machine definition. */
export const DEFINITION_LIMIT_BYTES = 1_048_576;

/** Size of a definition as Step Functions counts it (minified JSON, UTF-8). */
export const definitionBytes = (definition: AslDefinition): number =>
  Buffer.byteLength(JSON.stringify(definition), 'utf8');

/** Throws the user-facing `validation` error when a definition passes the size cap. */
export function checkSize(
  definition: AslDefinition,
  descriptor: FlowDescriptor,
  options: CompileOptions,
): void {
  const bytes = definitionBytes(definition);
  const limit = options.maxBytes ?? DEFINITION_LIMIT_BYTES;
  if (bytes <= limit) return;
  const shown = limit === DEFINITION_LIMIT_BYTES ? '1 MB' : `${limit} bytes`;
  throw validationFailed(
    `flow "${descriptor.name}" compiles to ${bytes} bytes > ${shown}, the Step Functions definition limit: split it into subflows (subflow tasks)`,
    [
      {
        path: 'tasks',
        message: `${descriptor.tasks.length} tasks compile to ${bytes} bytes; the limit is ${limit}`,
      },
    ],
  );
}

/** Name of the top-level Parallel state (a space keeps it apart from any task's state names). */
export const FLOW_STATE = 'all tasks';

/** Resources of the generated Task states. */
export const resources = {
  invoke: 'arn:aws:states:::lambda:invoke',
  invokeWithToken: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
  runContainer: 'arn:aws:states:::ecs:runTask.sync',
  startSubflowAndWait: 'arn:aws:states:::states:startExecution.sync:2',
  startSubflow: 'arn:aws:states:::states:startExecution',
} as const;

/** Errors a task's retry policy retries on runner states; `Sluice.TaskFailed` is final. */
export const RUNNER_RETRY_ERRORS = ['Sluice.AttemptFailed', 'Sluice.TaskTimedOut', 'States.Timeout'] as const;
/** On `T:async` (and nothing else: a callback reporting `Sluice.TaskFailed` is final too). */
export const ASYNC_RETRY_ERRORS = [...RUNNER_RETRY_ERRORS, 'States.HeartbeatTimeout'] as const;
/** On container, user Lambda and subflow steps, which do not know Sluice's errors. */
export const SERVICE_RETRY_ERRORS = ['States.TaskFailed', 'States.Timeout'] as const;

const INLINE_KINDS = new Set<Task['kind']>(['http', 'pass', 'choice', 'return']);
const PREPARED = '$.run.Payload.prepared';

type State = Record<string, unknown>;
type States = Record<string, State>;

/**
 * How tasks are compiled; shared with the layered baseline, which differs
 * only in how a set of tasks is arranged (`subgraph`, used for foreach).
 */
export interface TaskCompiler {
  options: CompileOptions;
  /** Base state name of every task (state-names.ts). */
  bases: Map<Task, string>;
  usesEcs: boolean;
  /** The ItemProcessor states running a foreach's sub-graph for one item. */
  subgraph: (tasks: readonly Task[], prefix: string, scope: string, compiler: TaskCompiler) => AslDefinition;
}

export const taskCompiler = (
  descriptor: FlowDescriptor,
  options: CompileOptions,
  subgraph: TaskCompiler['subgraph'],
): TaskCompiler => ({
  options,
  bases: stateBases(descriptor.tasks),
  usesEcs: hasCommandTask(descriptor.tasks),
  subgraph,
});

/** What every branch reads from its input: the runner (`fn`) and, for command tasks, ECS settings. */
export function sharedParameters(
  descriptor: FlowDescriptor,
  options: CompileOptions,
): Record<string, unknown> {
  const shared: Record<string, unknown> = { fn: options.runnerFunction };
  if (hasCommandTask(descriptor.tasks)) shared.ecs = ecsSettings(descriptor.tasks, options);
  return shared;
}

function gatedBranches(
  tasks: readonly Task[],
  prefix: string,
  scope: string | undefined,
  compiler: TaskCompiler,
): AslDefinition[] {
  const graph = buildGraph(tasks);
  const byName = new Map(tasks.map((task) => [task.name, task]));
  // Topological order: an interpreter running a bounded number of branches at
  // once (aws-local-stepfunctions runs 40) then never fills every slot with
  // gates whose upstreams have not started.
  return topologicalOrder(graph).map((name) =>
    compileTask(byName.get(name) as Task, graph.upstream.get(name)?.length ?? 0, prefix, scope, compiler),
  );
}

function gatedSubgraph(
  tasks: readonly Task[],
  prefix: string,
  scope: string,
  compiler: TaskCompiler,
): AslDefinition {
  const foreach = prefix.slice(0, -1);
  const inner = `${foreach}:tasks`;
  return {
    StartAt: inner,
    States: {
      [inner]: {
        Type: 'Parallel',
        Comment: `${foreach}: one branch per task, for one item`,
        Branches: gatedBranches(tasks, prefix, scope, compiler),
        ResultSelector: {},
        End: true,
      },
    },
  };
}

/**
 * The states of one task, as one branch: `T:await` when `upstreams > 0`, `T`,
 * and for external kinds `T:done?`, `T:done`, the external step and
 * `T:complete`, named from `compiler.bases` (state-names.ts; inside a
 * foreach they carry its `prefix`, e.g. `fan.`); `scope` is set there, the
 * intrinsic that computed the iteration's scope.
 */
export function compileTask(
  task: Task,
  upstreams: number,
  prefix: string,
  scope: string | undefined,
  compiler: TaskCompiler,
): AslDefinition {
  const T = task.name;
  const base = compiler.bases.get(task);
  if (base === undefined) throw new Error(`task ${prefix}${T} is not in the compiled descriptor`);
  const name = (step?: string) => (step ? `${base}:${step}` : base);
  // The runner reads task and action from `$$.State.Name`: a payload is `$$` plus the state's own input.
  const invoke = (input: State = {}): State => {
    const own: State = scope ? { 'scope.$': '$.scope', ...input } : input;
    return Object.keys(own).length === 0
      ? { 'FunctionName.$': '$.fn', 'Payload.$': '$$' }
      : { 'FunctionName.$': '$.fn', Payload: { 'c.$': '$$', ...own } };
  };
  const states: States = {};
  const start = upstreams > 0 ? name('await') : name();
  if (upstreams > 0)
    states[name('await')] = {
      Type: 'Task',
      Comment: `${T}: waits for its ${upstreams === 1 ? 'upstream' : `${upstreams} upstreams`}`,
      Resource: resources.invokeWithToken,
      Parameters: invoke(),
      ResultPath: '$.gate',
      Next: name(),
    };

  const runParameters = invoke(upstreams > 0 ? { 'g.$': '$.gate' } : {});
  if (INLINE_KINDS.has(task.kind)) {
    states[name()] = {
      Type: 'Task',
      Comment: `${T}: runs the ${task.kind} task`,
      Resource: resources.invoke,
      Parameters: runParameters,
      ...policy(task, RUNNER_RETRY_ERRORS, true),
      ...END,
    };
    return { StartAt: start, States: states };
  }

  const external = externalStep(task, name, invoke, scope, compiler);
  states[name()] = {
    Type: 'Task',
    Comment: `${T}: prepares the ${task.kind} task`,
    Resource: resources.invoke,
    Parameters: runParameters,
    ResultSelector: { 'Payload.$': '$.Payload' },
    ResultPath: '$.run',
    // Preparing can fail too (the runner counts its attempts): the policy retries it as well.
    ...policy(task, RUNNER_RETRY_ERRORS, false),
    Next: name('done?'),
  };
  states[name('done?')] = {
    Type: 'Choice',
    Comment: `${T}: ends here if skipped or done before`,
    Choices: [{ Variable: '$.run.Payload.done', BooleanEquals: true, Next: name('done') }],
    Default: external.name,
  };
  states[name('done')] = { Type: 'Pass', Comment: `${T}: nothing left to run`, Result: {}, End: true };
  // A Wait state cannot fail; every other step hands its failure to the runner, which records it
  // (an ECS exit code the task counts as success still succeeds) or fails the task for good.
  const catches = external.state.Type !== 'Wait';
  states[external.name] = {
    ...external.state,
    ...(catches
      ? { Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: name('failed') }] }
      : {}),
    Next: name('complete'),
  };
  if (catches) {
    // Fails the task for good (the runner throws Sluice.TaskFailed). When an execution resumed with
    // RedriveExecution re-enters here, the runner answers `rerun` and the task is prepared again.
    states[name('failed')] = {
      Type: 'Task',
      Comment: `${T}: records why the ${task.kind} step failed`,
      Resource: resources.invoke,
      Parameters: invoke({ 'failure.$': '$.failure' }),
      ResultSelector: { 'rerun.$': '$.Payload.rerun' },
      ResultPath: '$.recovery',
      Next: name('rerun?'),
    };
    states[name('rerun?')] = {
      Type: 'Choice',
      Comment: `${T}: runs the task again after a resume`,
      Choices: [{ Variable: '$.recovery.rerun', BooleanEquals: true, Next: name() }],
      Default: name('done'),
    };
  }
  states[name('complete')] = {
    Type: 'Task',
    Comment: `${T}: records the ${external.what}`,
    Resource: resources.invoke,
    Parameters: invoke(external.result ? { 'r.$': '$.result' } : {}),
    ...END,
  };
  return { StartAt: start, States: states };
}

/** A branch's last Task state: its output is `{}`, so a Parallel of thousands of branches stays small. */
const END = { ResultSelector: {}, End: true } as const;

interface ExternalStep {
  name: string;
  state: State;
  /** What `complete` records, for its comment. */
  what: string;
  /** Whether the step leaves a result at `$.result` for `complete`. */
  result: boolean;
}

function externalStep(
  task: Task,
  name: (step?: string) => string,
  invoke: (input?: State) => State,
  scope: string | undefined,
  compiler: TaskCompiler,
): ExternalStep {
  const T = task.name;
  const waitForCallback = (comment: string, retry: boolean): State => ({
    Type: 'Task',
    Comment: `${T}: ${comment}`,
    Resource: resources.invokeWithToken,
    Parameters: invoke(),
    ResultPath: '$.result',
    ...(task.kind === 'async' && task.heartbeatSeconds ? { HeartbeatSeconds: task.heartbeatSeconds } : {}),
    ...(retry ? policy(task, ASYNC_RETRY_ERRORS, true) : policy(task, [], true, false)),
  });
  switch (task.kind) {
    case 'async':
      return {
        name: name('async'),
        what: 'callback',
        result: true,
        state: waitForCallback('waits for the callback', true),
      };
    case 'command': {
      // The runner's run name (`scope.task`) tags the container, as on the local orchestrator.
      const runName = scope ? { 'Value.$': `States.Format('{}.${T}', $.scope)` } : { Value: T };
      return {
        name: name('container'),
        what: 'exit code',
        result: true,
        state: {
          Type: 'Task',
          Comment: `${T}: runs the command on ECS`,
          Resource: resources.runContainer,
          Parameters: {
            'Cluster.$': '$.ecs.cluster',
            'TaskDefinition.$': '$.ecs.taskDefinition',
            'LaunchType.$': '$.ecs.launchType',
            ...(compiler.options.ecsSubnets?.length ? { 'NetworkConfiguration.$': '$.ecs.network' } : {}),
            Overrides: {
              Cpu: String(Math.round(task.cpu * 1024)),
              Memory: String(Math.round(task.memoryGiB * 1024)),
              ContainerOverrides: [
                {
                  Name: compiler.options.ecsContainerName ?? 'command',
                  'Command.$': `States.Array('sh', '-c', ${PREPARED}.command)`,
                  Environment: [
                    { Name: 'SLUICE_EXECUTION_ID', 'Value.$': '$$.Execution.Name' },
                    { Name: 'SLUICE_TASK', ...runName },
                  ],
                },
              ],
            },
          },
          ResultSelector: { 'exitCode.$': '$.Containers[0].ExitCode' },
          ResultPath: '$.result',
          ...policy(task, SERVICE_RETRY_ERRORS, true),
        },
      };
    }
    case 'lambda':
      return {
        name: name('lambda'),
        what: 'result',
        result: true,
        state: {
          Type: 'Task',
          Comment: `${T}: invokes the function`,
          Resource: resources.invoke,
          Parameters: { 'FunctionName.$': `${PREPARED}.functionName`, 'Payload.$': `${PREPARED}.payload` },
          ResultSelector: { 'Payload.$': '$.Payload' },
          ResultPath: '$.result',
          ...policy(task, SERVICE_RETRY_ERRORS, true),
        },
      };
    case 'wait':
      if (task.wakeUp)
        return {
          name: name('wait'),
          what: 'wake-up',
          result: true,
          state: waitForCallback('waits for a wake-up call', false),
        };
      return {
        name: name('wait'),
        what: 'end of the wait',
        result: false,
        state: {
          Type: 'Wait',
          Comment: `${T}: waits until the prepared time`,
          TimestampPath: `${PREPARED}.until`,
        },
      };
    case 'subflow': {
      // The runner recorded the child under this id, and execution names are single-use: starting
      // the child is not retried (its own tasks retry as they declare).
      const child = { 'Name.$': `${PREPARED}.executionId` };
      const childId = { 'executionId.$': child['Name.$'] };
      return {
        name: name('subflow'),
        what: 'child execution',
        result: true,
        state: {
          Type: 'Task',
          Comment: task.wait
            ? `${T}: runs subflow ${task.flowId} and waits`
            : `${T}: starts subflow ${task.flowId}`,
          Resource: task.wait ? resources.startSubflowAndWait : resources.startSubflow,
          Parameters: {
            'StateMachineArn.$': `${PREPARED}.stateMachineArn`,
            ...child,
            Input: { ...childId, 'AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$': '$$.Execution.Id' },
          },
          ResultSelector: { 'executionArn.$': '$.ExecutionArn' },
          ResultPath: '$.result',
          ...(task.wait && task.timeoutSeconds ? { TimeoutSeconds: task.timeoutSeconds } : {}),
        },
      };
    }
    case 'foreach': {
      const itemScope = scope
        ? `States.Format('{}.${T}[{}]', $.scope, $$.Map.Item.Value)`
        : `States.Format('${T}[{}]', $$.Map.Item.Value)`;
      return {
        name: name('each'),
        what: 'end of its items',
        result: false,
        state: {
          Type: 'Map',
          Comment: `${T}: runs its ${task.tasks.length} tasks per item`,
          ItemsPath: `${PREPARED}.indices`,
          ...(task.maxConcurrency > 0 ? { MaxConcurrency: task.maxConcurrency } : {}),
          ItemSelector: {
            'fn.$': '$.fn',
            ...(compiler.usesEcs ? { 'ecs.$': '$.ecs' } : {}),
            'scope.$': itemScope,
          },
          ItemProcessor: {
            ProcessorConfig: { Mode: 'INLINE' },
            ...compiler.subgraph(task.tasks, `${name()}.`, itemScope, compiler),
          },
          ResultPath: null,
        },
      };
    }
    default:
      throw new Error(`task kind ${task.kind} has no external step`);
  }
}

/** Timeout and retry fields from a task's policy. */
function policy(task: Task, errors: readonly string[], withTimeout: boolean, withRetry = true): State {
  const fields: State = {};
  if (withTimeout && task.timeoutSeconds) fields.TimeoutSeconds = task.timeoutSeconds;
  if (withRetry && task.retry && task.retry.maxRetries > 0) fields.Retry = [retrier(task.retry, errors)];
  return fields;
}

const retrier = (retry: RetryPolicy, errors: readonly string[]) => ({
  ErrorEquals: errors,
  MaxAttempts: retry.maxRetries,
  IntervalSeconds: retry.intervalSeconds,
  BackoffRate: retry.backoffRate,
});

const hasCommandTask = (tasks: readonly Task[]): boolean =>
  tasks.some((task) => task.kind === 'command' || (task.kind === 'foreach' && hasCommandTask(task.tasks)));

/** Dotted path of the first command task, e.g. `tasks.2.tasks.0`. */
function firstCommandPath(tasks: readonly Task[], path: string): string | undefined {
  for (const [index, task] of tasks.entries()) {
    if (task.kind === 'command') return `${path}.${index}`;
    const inner =
      task.kind === 'foreach' ? firstCommandPath(task.tasks, `${path}.${index}.tasks`) : undefined;
    if (inner) return inner;
  }
  return undefined;
}

function ecsSettings(tasks: readonly Task[], options: CompileOptions): Record<string, unknown> {
  if (!options.ecsCluster || !options.ecsTaskDefinition)
    throw validationFailed(
      'command tasks cannot run here: no ECS cluster and task definition are configured',
      [
        {
          path: `${firstCommandPath(tasks, 'tasks')}.kind`,
          message:
            'command tasks need an ECS cluster and task definition (compile options ecsCluster, ecsTaskDefinition)',
        },
      ],
    );
  return {
    cluster: options.ecsCluster,
    taskDefinition: options.ecsTaskDefinition,
    launchType: options.ecsLaunchType ?? 'FARGATE',
    ...(options.ecsSubnets?.length
      ? {
          network: {
            AwsvpcConfiguration: {
              Subnets: options.ecsSubnets,
              ...(options.ecsSecurityGroups?.length ? { SecurityGroups: options.ecsSecurityGroups } : {}),
              AssignPublicIp: options.ecsAssignPublicIp ? 'ENABLED' : 'DISABLED',
            },
          },
        }
      : {}),
  };
}
