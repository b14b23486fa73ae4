/**
 * Local adapter of the {@link Orchestrator} port: runs the very definitions
 * the compiler generates for Step Functions in-process, on
 * `aws-local-stepfunctions` (which interprets Pass, Task, Choice, Wait,
 * Parallel, inline Map, Retry/Catch and intrinsics), and builds in what that
 * library lacks. Every Task state is overridden by a local handler (keyed by
 * state name, so state names must be unique across the whole definition,
 * which Step Functions requires too). The handler decides by the state's
 * Resource:
 *
 * | Resource | local behaviour |
 * |---|---|
 * | `arn:aws:states:::lambda:invoke` | `Payload` is a runner request (a state's payload — the context object `$$`, alone or as `c` — or an explicit TaskAction, see task-actions.ts) → `invokeRunner(payload)`; anything else → `invokeFunction(FunctionName, Payload)`. Result shaped like the service integration: `{ ExecutedVersion, Payload, StatusCode }`. A thrown error fails the state with Error = the error's `name`, Cause = `{"errorType","errorMessage"}` JSON, as Lambda reports it. |
 * | `arn:aws:lambda:…:function:…` | the same, with the raw result (no `Payload` envelope). |
 * | `arn:aws:states:::lambda:invoke.waitForTaskToken` | a task token is created, `$$.Task.Token` resolves to it, the runner is invoked, and the state waits for {@link LocalOrchestrator.sendTaskSuccess} / `sendTaskFailure` (its output / its error and cause), honouring `HeartbeatSeconds` (States.HeartbeatTimeout; `sendTaskHeartbeat` extends it) and `TimeoutSeconds` (States.Timeout). |
 * | `arn:aws:states:::ecs:runTask.sync` | `Overrides.ContainerOverrides[0].Command` runs as a local child process (see {@link runLocalCommand}); `Environment` (`[{Name, Value}]`) is its environment. Exit code 0 → the state's result is an ECS task description (`Containers[0].ExitCode`, `StopCode`, …); a non-zero exit fails the state with `States.TaskFailed` and that description as JSON Cause, as Step Functions does. |
 * | `arn:aws:states:::states:startExecution[.sync[:2]]` | starts a local execution of `StateMachineArn` named `Name` with `Input`; `.sync`/`.sync:2` wait and return the DescribeExecution shape (a failed child fails the state with `States.TaskFailed`). |
 *
 * What else differs from the library, and why:
 * - Parallel states are run by this adapter (rewritten to a Task state whose
 *   handler runs every branch concurrently): the library runs at most 40
 *   branches at a time, which deadlocks a join whose gate waits on a task
 *   token released by a branch beyond the 40th. Step Functions starts every
 *   branch. InputPath, Parameters, ResultSelector, ResultPath, OutputPath,
 *   Retry and Catch keep their meaning.
 * - Task states without `TimeoutSeconds` get no timeout (the library would
 *   time them out after 60 s); values are capped at 24.8 days (Node's timer limit).
 * - `ResultPath: "$"` is rewritten to its equivalent, no ResultPath (the
 *   library writes the result under a key named `$`).
 * - The context object carries `Execution.Id/Name/RedriveCount`,
 *   `StateMachine.Id/Name`; `$$.Task.Token`, `$$.State.Name`,
 *   `$$.State.EnteredTime` and `$$.State.RetryCount` (which the library
 *   lacks) are resolved in Task states' Parameters, as whole values, inside
 *   `States.Format` strings or within the whole context object (`"$$"`), not
 *   as arguments of other intrinsics. `$$.Task.Token` is `""` outside
 *   `.waitForTaskToken` states. RetryCount
 *   counts entries of a state with the same input in a run, so iterations of
 *   a Map must differ in their payload (the `scope`). Inside Parallel branches
 *   and Map iterations `$$.Execution.Input` is the branch's input (a library
 *   limitation): read the execution id from `$$.Execution.Name`.
 * - Performance: the definition is validated once, at deploy (asl-validator
 *   costs ~0.25 ms per task state); runs skip validation and reuse the parsed
 *   machines. Every scalar JSONPath lookup costs the library an Error with a
 *   stack trace (jsonpath-plus signals unwrapped scalars by throwing), so the
 *   context paths above, referenced directly in Task Parameters
 *   (`"executionId.$": "$$.Execution.Name"`), are filled in by the handler
 *   instead; `$.field` references still go through JSONPath. The library's
 *   event log cannot be turned off; nothing reads it (events of branch runs
 *   are dropped with the run).
 *
 * Lifecycle: `start` is idempotent per execution id; every run ends with one
 * call of `onExecutionEnded` (SUCCEEDED, FAILED with the failing state's
 * error and cause, or STOPPED); `stop` aborts the run, rejects its pending
 * tokens, kills its commands and stops its child executions; `redrive`
 * re-runs the same definition under the same id (the runner makes finished
 * tasks no-ops, so the re-run resumes where the failed one ended).
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import {
  ExecutionAbortedError,
  ExecutionError,
  ExecutionTimeoutError,
  type RunOptions,
  StateMachine,
  type StateMachineDefinition,
} from 'aws-local-stepfunctions';
import { JSONPath } from 'jsonpath-plus';
import type { RunnerRequest } from '../../core/engine/task-actions.ts';
import { conflict, notFound } from '../../core/errors.ts';
import type {
  AslDefinition,
  ExecutionEndedListener,
  ExecutionOutcome,
  Orchestrator,
  StateMachineRef,
} from '../../ports/orchestrator.ts';
import { TaskTokenNotFound } from '../../ports/orchestrator.ts';
import { executionArn } from '../aws/sfn-orchestrator.ts';

type LocalHandlers = NonNullable<NonNullable<RunOptions['overrides']>['taskResourceLocalHandlers']>;
type LocalHandler = LocalHandlers[string];
/** JSON as the library types it. */
type Json = Parameters<LocalHandler>[0];
type JsonObject = { [key: string]: Json };
type StateDefinition = Record<string, unknown>;

/** One line a local command wrote. */
export interface CommandOutputEvent {
  type: 'command-output';
  executionId: string;
  /** Name of the `ecs:runTask.sync` state. */
  state: string;
  stream: 'stdout' | 'stderr';
  line: string;
  /** The command's `Environment` overrides (how a runner tags a command with its task). */
  environment: Readonly<Record<string, string>>;
}

export interface WarningEvent {
  type: 'warning';
  executionId?: string;
  message: string;
  error?: unknown;
}

export type LocalOrchestratorEvent = CommandOutputEvent | WarningEvent;

/** What an `ecs:runTask.sync` state asks to run. */
export interface CommandRequest {
  executionId: string;
  state: string;
  /** ECS `Command` override, e.g. `["sh", "-c", "echo hi"]`. */
  command: readonly string[];
  environment: Readonly<Record<string, string>>;
  /** Aborted when the state times out or the execution stops: kill the process. */
  signal: AbortSignal;
  onLine: (stream: 'stdout' | 'stderr', line: string) => void;
}

export interface CommandResult {
  /** The process's exit code; 128 + n when killed by signal n. */
  exitCode: number;
  /** Why it ended, when it did not exit by itself. */
  reason?: string;
}

export interface LocalOrchestratorOptions {
  /** The task runner, called in-process with the payload each runner Task state sends. */
  invokeRunner: (payload: RunnerRequest) => Promise<unknown>;
  /** Told once per run when the run ends, whichever way. */
  onExecutionEnded: ExecutionEndedListener;
  /**
   * Invokes a user Lambda function (a `lambda:invoke` whose payload is not a
   * runner request). Absent: such states fail with `Lambda.ResourceNotFoundException`.
   */
  invokeFunction?: (functionName: string, payload: unknown) => Promise<unknown>;
  /** Runs the command of an `ecs:runTask.sync` state; defaults to {@link runLocalCommand}. */
  runCommand?: (request: CommandRequest) => Promise<CommandResult>;
  /** Command output lines and warnings (default: warnings to stderr, output dropped). */
  log?: (event: LocalOrchestratorEvent) => void;
  /**
   * Where deployed definitions are kept (`<dir>/<name>.asl.json`), so a
   * restarted dev server still knows the state machines its store refers to.
   * Absent: in memory only.
   */
  definitionsDir?: string;
  /** Validate each definition (asl-validator, as the library does) at deploy. Default true. */
  validate?: boolean;
  /** Replaces every Retry interval (ms), e.g. 0 in tests. Absent: the definition's intervals and backoff. */
  retryIntervalMs?: number;
  /** Replaces the duration of every Wait state (ms). Absent: the definition's. */
  waitMs?: number;
  /** How many ended executions are remembered for idempotent start and redrive (default 10,000). */
  maxEndedExecutions?: number;
}

/** Account and region of local ARNs. */
const LOCAL_ARN = 'arn:aws:states:local:000000000000';
/** Node's timers overflow (and fire at once) above 2^31-1 ms. */
const MAX_TIMEOUT_SECONDS = Math.floor(0x7fffffff / 1000);
const PARALLEL_RESOURCE = 'sluice:local:parallel';
const CLOSED_TOKENS_REMEMBERED = 100_000;

/**
 * Context values a Task state's handler fills in. The library cannot know the
 * per-state ones (its context has no Task or State), and a scalar JSONPath
 * lookup costs it an Error object with a stack trace (jsonpath-plus signals
 * unwrapped scalars by throwing), so plain references to these paths in Task
 * Parameters are replaced by placeholders at deploy and resolved by the handler.
 */
const PLACEHOLDERS = {
  '$$.Task.Token': '__sluice_local_task_token__',
  '$$.State.Name': '__sluice_local_state_name__',
  '$$.State.EnteredTime': '__sluice_local_state_entered_time__',
  '$$.State.RetryCount': '__sluice_local_state_retry_count__',
  '$$.Execution.Id': '__sluice_local_execution_id__',
  '$$.Execution.Name': '__sluice_local_execution_name__',
  '$$.Execution.RedriveCount': '__sluice_local_execution_redrive_count__',
  '$$.StateMachine.Id': '__sluice_local_state_machine_id__',
  '$$.StateMachine.Name': '__sluice_local_state_machine_name__',
} as const;
const PLACEHOLDER_PREFIX = '__sluice_local_';
const PLACEHOLDER_PATHS = new Map<string, string>(Object.entries(PLACEHOLDERS));

/** A state error as the library matches it in Retry/Catch: by `name`; Cause = message. */
class StateError extends Error {
  constructor(name: string, cause: string) {
    super(cause);
    this.name = name;
  }
}

/** Thrown into states of a run that was stopped; neither retried nor caught, like States.Runtime. */
class RunEndedError extends Error {
  readonly isRetryable = false;
  readonly isCatchable = false;

  constructor() {
    super('The execution was stopped');
    this.name = 'Sluice.ExecutionStopped';
  }
}

type TaskKind = 'invoke' | 'token' | 'command' | 'subflow' | 'parallel';

interface PreparedTask {
  name: string;
  kind: TaskKind;
  /** lambda:invoke service integration (Payload envelope) rather than a direct function ARN. */
  integration: boolean;
  /** Function ARN of a direct `arn:aws:lambda:` resource. */
  functionArn?: string;
  subflowMode?: 'async' | 'sync' | 'sync:2';
  timeoutSeconds?: number;
  timeoutSecondsPath?: string;
  heartbeatSeconds?: number;
  heartbeatSecondsPath?: string;
  /** Parameters hold placeholders (or mention `$$.Task` / `$$.State`): resolve them in the handler. */
  placeholders: boolean;
  retryCount: boolean;
  branches?: StateMachine[];
}

interface PreparedMachine {
  id: string;
  name: string;
  machine: StateMachine;
  tasks: Map<string, PreparedTask>;
  retryOverrides: Record<string, number>;
  waitOverrides: Record<string, number>;
}

type Status = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'STOPPED';

interface LocalExecution {
  key: string;
  id: string;
  arn: string;
  machine: PreparedMachine;
  input: Json;
  status: Status;
  startDate: number;
  stopDate?: number;
  output?: Json;
  outcome?: ExecutionOutcome;
  redriveCount: number;
  run?: ExecutionRun;
}

interface RunHandle {
  abort: () => void;
}

/** One run of an execution (the first, or a redrive). */
class ExecutionRun {
  readonly execution: LocalExecution;
  readonly handles = new Set<RunHandle>();
  readonly tokens = new Set<string>();
  readonly commands = new Set<AbortController>();
  readonly children = new Set<LocalExecution>();
  readonly retryCounts = new Map<string, number>();
  options: RunOptions = {};
  stopping = false;
  stopCause: string | undefined;
  ended = false;
  readonly done: Promise<ExecutionOutcome>;
  resolveDone: (outcome: ExecutionOutcome) => void = () => {};

  constructor(execution: LocalExecution) {
    this.execution = execution;
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
  }

  get closed(): boolean {
    return this.ended || this.stopping;
  }
}

interface PendingToken {
  run: ExecutionRun;
  resolve: (output: Json) => void;
  reject: (error: Error) => void;
  heartbeatMs: number | undefined;
  heartbeatTimer: NodeJS.Timeout | undefined;
  timeoutTimer: NodeJS.Timeout | undefined;
}

/** Description of a local execution, shaped like DescribeExecution. */
export interface LocalExecutionDescription {
  executionArn: string;
  name: string;
  status: Status;
  redriveCount: number;
  output?: unknown;
  error?: string;
  cause?: string;
}

export class LocalOrchestrator implements Orchestrator {
  readonly #options: LocalOrchestratorOptions;
  readonly #runCommand: (request: CommandRequest) => Promise<CommandResult>;
  readonly #log: (event: LocalOrchestratorEvent) => void;
  readonly #machines = new Map<string, PreparedMachine>();
  readonly #executions = new Map<string, LocalExecution>();
  readonly #ended: string[] = [];
  readonly #tokens = new Map<string, PendingToken>();
  readonly #closedTokens = new Set<string>();
  #shuttingDown = false;

  constructor(options: LocalOrchestratorOptions) {
    this.#options = options;
    this.#runCommand = options.runCommand ?? runLocalCommand;
    this.#log =
      options.log ??
      ((event) => {
        if (event.type === 'warning')
          console.error(`[local-orchestrator] ${event.message}`, event.error ?? '');
      });
  }

  async deploy(name: string, definition: AslDefinition): Promise<StateMachineRef> {
    const id = `${LOCAL_ARN}:stateMachine:${name}`;
    if (this.#options.validate !== false) {
      // The library's constructor runs asl-validator (ARNs and JSONPaths included).
      new StateMachine(definition as unknown as StateMachineDefinition);
    }
    this.#machines.set(id, this.#prepare(id, name, definition));
    if (this.#options.definitionsDir) {
      await mkdir(this.#options.definitionsDir, { recursive: true });
      await writeFile(this.#definitionFile(name), JSON.stringify(definition));
    }
    return { id };
  }

  async start(stateMachine: StateMachineRef, executionId: string): Promise<void> {
    const machine = await this.#machine(stateMachine.id);
    const key = executionKey(machine.id, executionId);
    // Started before (running or ended): Step Functions answers ExecutionAlreadyExists.
    if (this.#executions.has(key)) return;
    this.#startExecution(machine, executionId, { executionId });
  }

  async stop(stateMachine: StateMachineRef, executionId: string, cause: string): Promise<void> {
    const run = this.#executions.get(executionKey(stateMachine.id, executionId))?.run;
    if (!run) return;
    if (!run.closed) this.#abortRun(run, cause);
    await run.done;
  }

  async redrive(stateMachine: StateMachineRef, executionId: string): Promise<void> {
    const machine = await this.#machine(stateMachine.id);
    const key = executionKey(machine.id, executionId);
    const execution = this.#executions.get(key);
    if (!execution) {
      // Unknown here (e.g. the dev server restarted): re-run it; the runner skips finished tasks.
      this.#startExecution(machine, executionId, { executionId }, 1);
      return;
    }
    if (execution.status === 'RUNNING') throw conflict(`Execution ${executionId} is still running`);
    if (execution.status === 'SUCCEEDED')
      throw conflict(`Execution ${executionId} succeeded; nothing to redrive`);
    execution.redriveCount += 1;
    this.#begin(execution);
  }

  async sendTaskSuccess(token: string, output: unknown): Promise<void> {
    const pending = this.#takeToken(token);
    pending.resolve(toJson(output));
  }

  async sendTaskFailure(token: string, error: string, cause: string): Promise<void> {
    const pending = this.#takeToken(token);
    pending.reject(new StateError(error, cause));
  }

  async sendTaskHeartbeat(token: string): Promise<void> {
    const pending = this.#tokens.get(token);
    if (!pending) throw this.#tokenNotFound(token);
    if (pending.heartbeatMs !== undefined) {
      clearTimeout(pending.heartbeatTimer);
      pending.heartbeatTimer = this.#heartbeatTimer(token, pending.heartbeatMs);
    }
  }

  /**
   * Ends every run in flight without reporting it: the dev server is going
   * down, and its executions stay RUNNING in the store so that the next start
   * resumes them.
   */
  async shutdown(): Promise<void> {
    this.#shuttingDown = true;
    const runs = [...this.#executions.values()].flatMap((execution) =>
      execution.run && !execution.run.ended ? [execution.run] : [],
    );
    for (const run of runs) this.#abortRun(run, 'Sluice is shutting down');
    await Promise.all(runs.map((run) => run.done));
  }

  /** Resolves with the outcome of the execution's current run (after its listener ran). */
  async whenEnded(stateMachine: StateMachineRef, executionId: string): Promise<ExecutionOutcome> {
    const run = this.#executions.get(executionKey(stateMachine.id, executionId))?.run;
    if (!run) throw notFound(`Execution ${executionId} does not exist`);
    return run.done;
  }

  /** The execution as Step Functions' DescribeExecution would show it; undefined if unknown. */
  describeExecution(
    stateMachine: StateMachineRef,
    executionId: string,
  ): LocalExecutionDescription | undefined {
    const execution = this.#executions.get(executionKey(stateMachine.id, executionId));
    if (!execution) return undefined;
    return {
      executionArn: execution.arn,
      name: execution.id,
      status: execution.status,
      redriveCount: execution.redriveCount,
      output: execution.output,
      error: execution.outcome?.error,
      cause: execution.outcome?.cause,
    };
  }

  // --- executions ---------------------------------------------------------------------------------

  #startExecution(
    machine: PreparedMachine,
    executionId: string,
    input: Json,
    redriveCount = 0,
  ): LocalExecution {
    const execution: LocalExecution = {
      key: executionKey(machine.id, executionId),
      id: executionId,
      arn: executionArn(machine.id, executionId),
      machine,
      input,
      status: 'RUNNING',
      startDate: Date.now(),
      redriveCount,
    };
    this.#executions.set(execution.key, execution);
    this.#begin(execution);
    return execution;
  }

  #begin(execution: LocalExecution): void {
    const run = new ExecutionRun(execution);
    const { machine } = execution;
    execution.run = run;
    execution.status = 'RUNNING';
    execution.output = undefined;
    execution.outcome = undefined;
    execution.stopDate = undefined;
    const handlers: LocalHandlers = {};
    for (const task of machine.tasks.values())
      handlers[task.name] = (input) => this.#dispatch(run, task, input);
    run.options = {
      overrides: {
        taskResourceLocalHandlers: handlers,
        retryIntervalOverrides: machine.retryOverrides,
        waitTimeOverrides: machine.waitOverrides,
      },
      context: {
        Execution: {
          Id: execution.arn,
          Name: execution.id,
          RoleArn: 'arn:aws:iam::000000000000:role/sluice-local',
          RedriveCount: execution.redriveCount,
        },
        StateMachine: { Id: machine.id, Name: machine.name },
        Task: { Token: PLACEHOLDERS['$$.Task.Token'] },
        State: {
          Name: PLACEHOLDERS['$$.State.Name'],
          EnteredTime: PLACEHOLDERS['$$.State.EnteredTime'],
          RetryCount: PLACEHOLDERS['$$.State.RetryCount'],
        },
      },
    };
    const handle = machine.machine.run(execution.input, run.options);
    run.handles.add(handle);
    handle.result.then(
      (output) => this.#finish(run, { status: 'SUCCEEDED' }, output),
      (error: unknown) => this.#finish(run, outcomeOf(run, error)),
    );
  }

  #abortRun(run: ExecutionRun, cause: string): void {
    run.stopping = true;
    run.stopCause = cause;
    for (const handle of run.handles) handle.abort();
  }

  async #finish(run: ExecutionRun, outcome: ExecutionOutcome, output?: Json): Promise<void> {
    if (run.ended) return;
    run.ended = true;
    const { execution } = run;
    execution.status = outcome.status;
    execution.outcome = outcome;
    execution.output = output;
    execution.stopDate = Date.now();
    // Whatever is still in flight belongs to a run that is over.
    for (const handle of run.handles) handle.abort();
    run.handles.clear();
    for (const token of run.tokens) this.#takeToken(token).reject(new RunEndedError());
    for (const command of run.commands) command.abort(new RunEndedError());
    for (const child of run.children) {
      if (child.run && !child.run.closed) this.#abortRun(child.run, `Parent execution ${execution.id} ended`);
    }
    // Ended executions are remembered (idempotent start, redrive); their handlers are not.
    run.options = {};
    run.retryCounts.clear();
    try {
      if (!this.#shuttingDown) await this.#options.onExecutionEnded(execution.id, outcome);
    } catch (error) {
      this.#log({ type: 'warning', executionId: execution.id, message: 'onExecutionEnded failed', error });
    }
    this.#remember(execution);
    run.resolveDone(outcome);
  }

  #remember(execution: LocalExecution): void {
    this.#ended.push(execution.key);
    const max = this.#options.maxEndedExecutions ?? 10_000;
    while (this.#ended.length > max) {
      const key = this.#ended.shift();
      const old = key === undefined ? undefined : this.#executions.get(key);
      if (old && old.status !== 'RUNNING') this.#executions.delete(old.key);
    }
  }

  // --- task states --------------------------------------------------------------------------------

  async #dispatch(run: ExecutionRun, task: PreparedTask, raw: Json): Promise<Json> {
    if (run.closed) throw new RunEndedError();
    let input = raw;
    let token: string | undefined;
    if (task.placeholders) {
      const retryCount = task.retryCount ? this.#retryCount(run, task, raw) : 0;
      if (task.kind === 'token') token = randomUUID();
      const { execution } = run;
      input = resolvePlaceholders(raw, {
        [PLACEHOLDERS['$$.Task.Token']]: token ?? '',
        [PLACEHOLDERS['$$.State.Name']]: task.name,
        [PLACEHOLDERS['$$.State.EnteredTime']]: new Date().toISOString(),
        [PLACEHOLDERS['$$.State.RetryCount']]: retryCount,
        [PLACEHOLDERS['$$.Execution.Id']]: execution.arn,
        [PLACEHOLDERS['$$.Execution.Name']]: execution.id,
        [PLACEHOLDERS['$$.Execution.RedriveCount']]: execution.redriveCount,
        [PLACEHOLDERS['$$.StateMachine.Id']]: execution.machine.id,
        [PLACEHOLDERS['$$.StateMachine.Name']]: execution.machine.name,
      });
    }
    switch (task.kind) {
      case 'invoke':
        return this.#invoke(task, input);
      case 'token':
        return this.#waitForToken(run, task, input, token ?? randomUUID());
      case 'command':
        return this.#command(run, task, input);
      case 'subflow':
        return this.#subflow(run, task, input);
      case 'parallel':
        return this.#parallel(run, task, input);
    }
  }

  /** Retries re-enter a state with the same input; count entries per state and input. */
  #retryCount(run: ExecutionRun, task: PreparedTask, raw: Json): number {
    const key = `${task.name}\n${JSON.stringify(raw)}`;
    const count = run.retryCounts.get(key) ?? 0;
    run.retryCounts.set(key, count + 1);
    return count;
  }

  /** Calls the runner or the user function of a lambda state; resolves with its raw result. */
  async #call(task: PreparedTask, input: Json): Promise<unknown> {
    const payload = task.integration ? field(input, 'Payload') : input;
    if (isRunnerRequest(payload)) return this.#options.invokeRunner(payload);
    const functionName = task.integration
      ? String(field(input, 'FunctionName') ?? '')
      : (task.functionArn ?? '');
    if (!this.#options.invokeFunction) {
      throw new StateError(
        'Lambda.ResourceNotFoundException',
        `Function not found locally: ${functionName} (no invokeFunction configured)`,
      );
    }
    return this.#options.invokeFunction(functionName, payload);
  }

  async #invoke(task: PreparedTask, input: Json): Promise<Json> {
    let result: unknown;
    try {
      result = await this.#call(task, input);
    } catch (error) {
      throw lambdaError(error);
    }
    const payload = toJson(result);
    return task.integration ? { ExecutedVersion: '$LATEST', Payload: payload, StatusCode: 200 } : payload;
  }

  async #waitForToken(run: ExecutionRun, task: PreparedTask, input: Json, token: string): Promise<Json> {
    const { promise, resolve, reject } = Promise.withResolvers<Json>();
    // It may be settled (even rejected) while the runner call below is still in flight.
    promise.catch(() => {});
    const heartbeatSeconds = seconds(task.heartbeatSeconds, task.heartbeatSecondsPath, input);
    const pending: PendingToken = {
      run,
      resolve,
      reject,
      heartbeatMs: heartbeatSeconds === undefined ? undefined : heartbeatSeconds * 1000,
      heartbeatTimer: undefined,
      timeoutTimer: undefined,
    };
    // Registered before the runner is invoked: it may complete the token at once.
    this.#tokens.set(token, pending);
    run.tokens.add(token);
    if (pending.heartbeatMs !== undefined)
      pending.heartbeatTimer = this.#heartbeatTimer(token, pending.heartbeatMs);
    const timeoutSeconds = seconds(task.timeoutSeconds, task.timeoutSecondsPath, input);
    if (timeoutSeconds !== undefined && timeoutSeconds < MAX_TIMEOUT_SECONDS) {
      // The library's own timer (same duration, armed right after this one)
      // fails the state with a genuine States.Timeout; this one only closes the token.
      pending.timeoutTimer = setTimeout(() => {
        if (this.#tokens.get(token) === pending) this.#takeToken(token);
      }, timeoutSeconds * 1000);
    }
    try {
      await this.#call(task, input);
    } catch (error) {
      if (this.#tokens.get(token) === pending) {
        this.#takeToken(token);
        throw lambdaError(error);
      }
    }
    return promise;
  }

  #heartbeatTimer(token: string, ms: number): NodeJS.Timeout {
    return setTimeout(() => {
      if (!this.#tokens.has(token)) return;
      this.#takeToken(token).reject(
        new StateError('States.HeartbeatTimeout', `No heartbeat for ${ms / 1000} seconds`),
      );
    }, ms);
  }

  /** Removes a pending token (it is closed from now on) and returns it. */
  #takeToken(token: string): PendingToken {
    const pending = this.#tokens.get(token);
    if (!pending) throw this.#tokenNotFound(token);
    this.#tokens.delete(token);
    pending.run.tokens.delete(token);
    clearTimeout(pending.heartbeatTimer);
    clearTimeout(pending.timeoutTimer);
    this.#closedTokens.add(token);
    if (this.#closedTokens.size > CLOSED_TOKENS_REMEMBERED) {
      const oldest = this.#closedTokens.values().next().value;
      if (oldest !== undefined) this.#closedTokens.delete(oldest);
    }
    return pending;
  }

  #tokenNotFound(token: string): TaskTokenNotFound {
    return new TaskTokenNotFound(this.#closedTokens.has(token) ? 'closed' : 'unknown');
  }

  async #command(run: ExecutionRun, task: PreparedTask, input: Json): Promise<Json> {
    const override = field(field(field(input, 'Overrides'), 'ContainerOverrides'), 0);
    const command = field(override, 'Command');
    if (
      !Array.isArray(command) ||
      command.length === 0 ||
      !command.every((part) => typeof part === 'string')
    ) {
      throw new StateError(
        'States.Runtime',
        `${task.name}: Overrides.ContainerOverrides[0].Command must be a non-empty array of strings`,
      );
    }
    const environment: Record<string, string> = {};
    const entries = field(override, 'Environment');
    if (Array.isArray(entries)) {
      for (const entry of entries) {
        const name = field(entry, 'Name');
        if (typeof name === 'string') environment[name] = String(field(entry, 'Value') ?? '');
      }
    }
    const controller = new AbortController();
    run.commands.add(controller);
    const timeoutSeconds = seconds(task.timeoutSeconds, task.timeoutSecondsPath, input);
    let timedOut = false;
    const timer =
      timeoutSeconds === undefined || timeoutSeconds >= MAX_TIMEOUT_SECONDS
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            controller.abort(new Error('timed out'));
          }, timeoutSeconds * 1000);
    const startedAt = Date.now();
    const { id: executionId } = run.execution;
    let result: CommandResult;
    try {
      result = await this.#runCommand({
        executionId,
        state: task.name,
        command,
        environment,
        signal: controller.signal,
        onLine: (stream, line) =>
          this.#log({ type: 'command-output', executionId, state: task.name, stream, line, environment }),
      });
    } finally {
      clearTimeout(timer);
      run.commands.delete(controller);
    }
    // Killed on timeout: the library's timer has failed the state with States.Timeout.
    if (timedOut) return new Promise<Json>(() => {});
    if (run.closed) throw new RunEndedError();
    const containerName = field(override, 'Name');
    const description: JsonObject = {
      TaskArn: `arn:aws:ecs:local:000000000000:task/sluice-local/${randomUUID()}`,
      ClusterArn: String(field(input, 'Cluster') ?? 'arn:aws:ecs:local:000000000000:cluster/sluice-local'),
      TaskDefinitionArn: String(field(input, 'TaskDefinition') ?? 'sluice-local'),
      LastStatus: 'STOPPED',
      DesiredStatus: 'STOPPED',
      StopCode: 'EssentialContainerExited',
      StoppedReason: result.reason ?? 'Essential container in task exited',
      StartedAt: startedAt,
      StoppedAt: Date.now(),
      Containers: [
        {
          Name: typeof containerName === 'string' ? containerName : 'main',
          LastStatus: 'STOPPED',
          ExitCode: result.exitCode,
          ...(result.reason ? { Reason: result.reason } : {}),
        },
      ],
    };
    if (result.exitCode !== 0) throw new StateError('States.TaskFailed', JSON.stringify(description));
    return description;
  }

  async #subflow(run: ExecutionRun, task: PreparedTask, input: Json): Promise<Json> {
    const stateMachineArn = field(input, 'StateMachineArn');
    if (typeof stateMachineArn !== 'string') {
      throw new StateError('States.Runtime', `${task.name}: StateMachineArn is required`);
    }
    let machine: PreparedMachine;
    try {
      machine = await this.#machine(stateMachineArn);
    } catch {
      throw new StateError(
        'StepFunctions.StateMachineDoesNotExistException',
        `State Machine Does Not Exist: '${stateMachineArn}'`,
      );
    }
    const name = field(input, 'Name');
    const childId = typeof name === 'string' ? name : randomUUID();
    const rawInput = field(input, 'Input');
    const childInput: Json = typeof rawInput === 'string' ? (JSON.parse(rawInput) as Json) : (rawInput ?? {});
    if (run.closed) throw new RunEndedError();
    let child = this.#executions.get(executionKey(machine.id, childId));
    if (child && child.status !== 'RUNNING' && child.status !== 'SUCCEEDED') {
      throw new StateError(
        'StepFunctions.ExecutionAlreadyExistsException',
        `Execution Already Exists: '${child.arn}'`,
      );
    }
    child ??= this.#startExecution(machine, childId, childInput);
    if (task.subflowMode === 'async') {
      return { ExecutionArn: child.arn, StartDate: child.startDate };
    }
    run.children.add(child);
    const childRun = child.run;
    if (!childRun) throw new StateError('States.Runtime', `Execution ${child.arn} has no run`);
    const outcome = await childRun.done;
    run.children.delete(child);
    if (run.closed) throw new RunEndedError();
    const v2 = task.subflowMode === 'sync:2';
    const description: JsonObject = {
      ExecutionArn: child.arn,
      StateMachineArn: machine.id,
      Name: child.id,
      Status: outcome.status === 'STOPPED' ? 'ABORTED' : outcome.status,
      StartDate: child.startDate,
      StopDate: child.stopDate ?? Date.now(),
      Input: v2 ? child.input : JSON.stringify(child.input),
      ...(outcome.status === 'SUCCEEDED'
        ? { Output: v2 ? (child.output ?? null) : JSON.stringify(child.output ?? null) }
        : {}),
      ...(outcome.error ? { Error: outcome.error } : {}),
      ...(outcome.cause ? { Cause: outcome.cause } : {}),
    };
    if (outcome.status !== 'SUCCEEDED')
      throw new StateError('States.TaskFailed', JSON.stringify(description));
    return description;
  }

  /** A Parallel state: every branch at once (the library would run 40 at a time). */
  async #parallel(run: ExecutionRun, task: PreparedTask, input: Json): Promise<Json> {
    const branches = task.branches ?? [];
    const handles = branches.map((branch) => branch.run(input, run.options));
    for (const handle of handles) run.handles.add(handle);
    try {
      return await Promise.all(handles.map((handle) => handle.result));
    } catch (error) {
      // A failing branch stops its siblings, and the Parallel state fails with its error.
      for (const handle of handles) handle.abort();
      if (error instanceof ExecutionError && error.cause instanceof Error) throw error.cause;
      throw error;
    } finally {
      for (const handle of handles) run.handles.delete(handle);
    }
  }

  // --- definitions --------------------------------------------------------------------------------

  async #machine(id: string): Promise<PreparedMachine> {
    const known = this.#machines.get(id);
    if (known) return known;
    const prefix = `${LOCAL_ARN}:stateMachine:`;
    if (this.#options.definitionsDir && id.startsWith(prefix)) {
      const name = id.slice(prefix.length);
      let text: string | undefined;
      try {
        text = await readFile(this.#definitionFile(name), 'utf8');
      } catch {
        text = undefined;
      }
      if (text !== undefined) {
        const prepared = this.#prepare(id, name, JSON.parse(text) as AslDefinition);
        this.#machines.set(id, prepared);
        return prepared;
      }
    }
    throw notFound(`State machine ${id} does not exist`);
  }

  #definitionFile(name: string): string {
    return join(this.#options.definitionsDir ?? '.', `${encodeURIComponent(name)}.asl.json`);
  }

  #prepare(id: string, name: string, definition: AslDefinition): PreparedMachine {
    const prepared: PreparedMachine = {
      id,
      name,
      machine: undefined as unknown as StateMachine,
      tasks: new Map(),
      retryOverrides: {},
      waitOverrides: {},
    };
    const seen = new Set<string>();
    prepared.machine = new StateMachine(this.#prepareMachine(definition, prepared, seen), {
      validationOptions: { noValidate: true },
    });
    return prepared;
  }

  #prepareMachine(
    definition: StateDefinition,
    prepared: PreparedMachine,
    seen: Set<string>,
  ): StateMachineDefinition {
    const states = definition.States;
    if (!isObject(states)) throw new Error('Invalid definition: States must be an object');
    const copied: Record<string, unknown> = {};
    for (const [stateName, raw] of Object.entries(states)) {
      if (!isObject(raw)) throw new Error(`Invalid definition: state ${stateName} must be an object`);
      if (seen.has(stateName)) {
        throw new Error(`State name ${stateName} is used twice; local task handlers are keyed by state name`);
      }
      seen.add(stateName);
      copied[stateName] = this.#prepareState(stateName, raw, prepared, seen);
    }
    return { ...definition, States: copied } as unknown as StateMachineDefinition;
  }

  #prepareState(
    name: string,
    raw: StateDefinition,
    prepared: PreparedMachine,
    seen: Set<string>,
  ): StateDefinition {
    const state: StateDefinition = { ...raw };
    if (state.ResultPath === '$') delete state.ResultPath;
    if (Array.isArray(state.Catch)) {
      state.Catch = state.Catch.map((catcher: unknown) => {
        if (!isObject(catcher) || catcher.ResultPath !== '$') return catcher;
        const { ResultPath: _dropped, ...rest } = catcher;
        return rest;
      });
    }
    if (Array.isArray(state.Retry) && this.#options.retryIntervalMs !== undefined) {
      prepared.retryOverrides[name] = this.#options.retryIntervalMs;
    }
    switch (state.Type) {
      case 'Wait':
        if (this.#options.waitMs !== undefined) prepared.waitOverrides[name] = this.#options.waitMs;
        return state;
      case 'Map': {
        const processorKey = isObject(state.ItemProcessor) ? 'ItemProcessor' : 'Iterator';
        const processor = state[processorKey];
        if (isObject(processor)) state[processorKey] = this.#prepareMachine(processor, prepared, seen);
        return state;
      }
      case 'Parallel': {
        const branches = Array.isArray(state.Branches) ? state.Branches : [];
        const machines = branches.map(
          (branch: unknown) =>
            new StateMachine(this.#prepareMachine(isObject(branch) ? branch : {}, prepared, seen), {
              validationOptions: { noValidate: true },
            }),
        );
        prepared.tasks.set(name, { ...baseTask(name, 'parallel'), branches: machines });
        const { Branches: _branches, ...rest } = state;
        return { ...rest, Type: 'Task', Resource: PARALLEL_RESOURCE, TimeoutSeconds: MAX_TIMEOUT_SECONDS };
      }
      case 'Task': {
        const task = classifyTask(name, state);
        if (state.Parameters !== undefined) {
          const { template, replaced } = inlineContextPaths(state.Parameters);
          state.Parameters = template;
          if (replaced) task.placeholders = true;
        }
        prepared.tasks.set(name, task);
        const timeout = state.TimeoutSeconds;
        if (typeof timeout === 'number') state.TimeoutSeconds = Math.min(timeout, MAX_TIMEOUT_SECONDS);
        else if (state.TimeoutSecondsPath === undefined) state.TimeoutSeconds = MAX_TIMEOUT_SECONDS;
        return state;
      }
      default:
        return state;
    }
  }
}

// --- helpers ----------------------------------------------------------------------------------------

const executionKey = (stateMachineId: string, executionId: string) => `${stateMachineId}\n${executionId}`;

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const TASK_ACTIONS = new Set(['await', 'run', 'start-async', 'complete']);

/** The context object as a runner state sends it (`$$`). */
const isStateContext = (value: unknown): boolean =>
  isObject(value) &&
  typeof field(value.Execution, 'Name') === 'string' &&
  typeof field(value.State, 'Name') === 'string';

/** What runner states send (task-actions.ts): `$$`, `{ c: $$, … }` or an explicit TaskAction. */
function isRunnerRequest(value: unknown): value is RunnerRequest {
  if (!isObject(value)) return false;
  if (isStateContext(value) || isStateContext(value.c)) return true;
  return (
    typeof value.executionId === 'string' &&
    typeof value.task === 'string' &&
    typeof value.action === 'string' &&
    TASK_ACTIONS.has(value.action)
  );
}

/** `value[key]` of a JSON object or array; undefined for anything else. */
function field(value: unknown, key: string | number): Json | undefined {
  if (typeof key === 'number') return Array.isArray(value) ? (value[key] as Json | undefined) : undefined;
  return isObject(value) ? (value[key] as Json | undefined) : undefined;
}

/** A JSON copy of a value (what crossing the Step Functions API does to it). */
function toJson(value: unknown): Json {
  if (value === undefined) return null;
  if (value === null || typeof value !== 'object') return value as Json;
  return JSON.parse(JSON.stringify(value)) as Json;
}

function baseTask(name: string, kind: TaskKind): PreparedTask {
  return { name, kind, integration: false, placeholders: false, retryCount: false };
}

const STATES_ARN = /^arn:[\w-]+:states:::/;
const LAMBDA_ARN = /^arn:[\w-]+:lambda:/;

function classifyTask(name: string, state: StateDefinition): PreparedTask {
  const resource = typeof state.Resource === 'string' ? state.Resource : '';
  const service = resource.replace(STATES_ARN, '');
  const parameters = JSON.stringify(state.Parameters ?? null);
  // `"$$"`: the whole context object, State and Task included.
  const wholeContext = parameters.includes('"$$"');
  const task: PreparedTask = {
    ...baseTask(name, 'invoke'),
    placeholders: wholeContext || parameters.includes('$$.Task') || parameters.includes('$$.State'),
    retryCount: wholeContext || parameters.includes('$$.State.RetryCount'),
  };
  if (typeof state.TimeoutSeconds === 'number') task.timeoutSeconds = state.TimeoutSeconds;
  if (typeof state.TimeoutSecondsPath === 'string') task.timeoutSecondsPath = state.TimeoutSecondsPath;
  if (typeof state.HeartbeatSeconds === 'number') task.heartbeatSeconds = state.HeartbeatSeconds;
  if (typeof state.HeartbeatSecondsPath === 'string') task.heartbeatSecondsPath = state.HeartbeatSecondsPath;
  if (LAMBDA_ARN.test(resource)) return { ...task, functionArn: resource };
  if (!STATES_ARN.test(resource)) throw unsupported(name, resource);
  switch (service) {
    case 'lambda:invoke':
      return { ...task, integration: true };
    case 'lambda:invoke.waitForTaskToken':
      return { ...task, kind: 'token', integration: true, placeholders: true };
    case 'ecs:runTask.sync':
      return { ...task, kind: 'command' };
    case 'states:startExecution':
      return { ...task, kind: 'subflow', subflowMode: 'async' };
    case 'states:startExecution.sync':
      return { ...task, kind: 'subflow', subflowMode: 'sync' };
    case 'states:startExecution.sync:2':
      return { ...task, kind: 'subflow', subflowMode: 'sync:2' };
    default:
      throw unsupported(name, resource);
  }
}

const unsupported = (name: string, resource: string) =>
  new Error(`State ${name}: resource ${resource || '(none)'} is not supported by the local orchestrator`);

/** `"key.$": "$$.Execution.Name"` (and the other {@link PLACEHOLDERS} paths) → `"key": placeholder`. */
function inlineContextPaths(template: unknown): { template: unknown; replaced: boolean } {
  let replaced = false;
  const walk = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(walk);
    if (!isObject(value)) return value;
    const result: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      const placeholder =
        typeof item === 'string' && key.endsWith('.$') ? PLACEHOLDER_PATHS.get(item) : undefined;
      if (placeholder !== undefined) {
        result[key.slice(0, -2)] = placeholder;
        replaced = true;
      } else {
        result[key] = walk(item);
      }
    }
    return result;
  };
  return { template: walk(template), replaced };
}

/** Seconds from a literal or a `$.path` into the state's effective input. */
function seconds(literal: number | undefined, path: string | undefined, input: Json): number | undefined {
  if (literal !== undefined) return literal;
  if (path === undefined) return undefined;
  const value: unknown = JSONPath({ path, json: input as object, wrap: false });
  return typeof value === 'number' ? value : undefined;
}

/** Replaces placeholder strings (whole values keep the replacement's type) everywhere in a payload. */
function resolvePlaceholders(value: Json, replacements: Record<string, string | number>): Json {
  if (typeof value === 'string') {
    const whole = replacements[value];
    if (whole !== undefined) return whole;
    if (!value.includes(PLACEHOLDER_PREFIX)) return value;
    let text = value;
    for (const [placeholder, replacement] of Object.entries(replacements)) {
      text = text.replaceAll(placeholder, String(replacement));
    }
    return text;
  }
  if (Array.isArray(value)) return value.map((item) => resolvePlaceholders(item, replacements));
  if (value !== null && typeof value === 'object') {
    const result: JsonObject = {};
    for (const [key, item] of Object.entries(value)) result[key] = resolvePlaceholders(item, replacements);
    return result;
  }
  return value;
}

/** The state error a Lambda function error becomes (Error = errorType, Cause = Lambda's JSON). */
function lambdaError(error: unknown): Error {
  if (error instanceof StateError || error instanceof RunEndedError) return error;
  const errorType = error instanceof Error ? error.name : 'Error';
  const errorMessage = error instanceof Error ? error.message : String(error);
  return new StateError(errorType, JSON.stringify({ errorType, errorMessage }));
}

function outcomeOf(run: ExecutionRun, error: unknown): ExecutionOutcome {
  if (run.stopping || error instanceof ExecutionAbortedError) {
    return { status: 'STOPPED', ...(run.stopCause ? { cause: run.stopCause } : {}) };
  }
  if (error instanceof ExecutionTimeoutError) {
    return { status: 'FAILED', error: 'States.Timeout', cause: 'The execution timed out' };
  }
  const failure = error instanceof ExecutionError && error.cause instanceof Error ? error.cause : error;
  if (failure instanceof Error) return { status: 'FAILED', error: failure.name, cause: failure.message };
  return { status: 'FAILED', error: 'States.Runtime', cause: String(failure) };
}

// --- commands ---------------------------------------------------------------------------------------

const SHELLS = /(^|\/)(sh|bash|dash|ash|zsh)$/;

/** The script `/bin/sh -c` runs for an ECS Command override. */
export function shellScript(command: readonly string[]): string {
  const [program, flag, script] = command;
  if (program !== undefined && SHELLS.test(program) && flag === '-c' && script !== undefined) {
    return command.length === 3 ? script : `${script} ${command.slice(3).map(quote).join(' ')}`;
  }
  return command.map(quote).join(' ');
}

const quote = (part: string) => (/^[\w@%+=:,./-]+$/.test(part) ? part : `'${part.replaceAll("'", `'\\''`)}'`);

const KILL_GRACE_MS = 2_000;

/**
 * Runs an ECS command locally: `/bin/sh -c <script>` (`["sh", "-c", script]`
 * runs `script`; any other Command is shell-quoted and joined) in a fresh
 * temporary directory that is also HOME, with PATH, LANG and TZ of this
 * process plus the command's Environment (not the rest of this process's
 * environment, as a container would not see it). Output is streamed line by
 * line. On abort the whole process group gets SIGTERM, then SIGKILL after 2 s.
 */
export async function runLocalCommand(request: CommandRequest): Promise<CommandResult> {
  const cwd = await mkdtemp(join(tmpdir(), 'sluice-command-'));
  try {
    return await new Promise<CommandResult>((resolve) => {
      const base: Record<string, string> = { HOME: cwd, TMPDIR: cwd };
      for (const key of ['PATH', 'LANG', 'LC_ALL', 'TZ']) {
        const value = process.env[key];
        if (value !== undefined) base[key] = value;
      }
      const child = spawn('/bin/sh', ['-c', shellScript(request.command)], {
        cwd,
        env: { ...base, ...request.environment },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      let killed: string | undefined;
      let killTimer: NodeJS.Timeout | undefined;
      const kill = () => {
        killed = request.signal.reason instanceof Error ? request.signal.reason.message : 'stopped';
        signalGroup(child.pid, 'SIGTERM');
        killTimer = setTimeout(() => signalGroup(child.pid, 'SIGKILL'), KILL_GRACE_MS);
        killTimer.unref();
      };
      if (request.signal.aborted) kill();
      else request.signal.addEventListener('abort', kill, { once: true });
      createInterface({ input: child.stdout, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) =>
        request.onLine('stdout', line),
      );
      createInterface({ input: child.stderr, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) =>
        request.onLine('stderr', line),
      );
      child.on('error', (error) => {
        request.signal.removeEventListener('abort', kill);
        resolve({ exitCode: 127, reason: error.message });
      });
      child.on('close', (code, signal) => {
        request.signal.removeEventListener('abort', kill);
        clearTimeout(killTimer);
        const exitCode = code ?? 128 + (signal ? (osConstants.signals[signal] ?? 0) : 0);
        resolve(killed ? { exitCode, reason: `Killed: ${killed}` } : { exitCode });
      });
    });
  } finally {
    await rm(cwd, { recursive: true, force: true });
  }
}

function signalGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}
