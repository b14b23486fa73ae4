import type { HttpCaller } from '../../ports/http-caller.ts';
import type { Orchestrator } from '../../ports/orchestrator.ts';
import { notFound } from '../errors.ts';
import type { FlowDescriptor, LogLevel, Task } from '../flow/model.ts';
import type { ContextStore } from './context-store.ts';
import { type JsonObject, matches, readPath } from './json-path.ts';
import { mapInput, mapOutput, type Scope } from './mappings.ts';
import type { EngineRecords, ExecutionRecord, Gate, TaskRunRecord } from './records.ts';
import {
  executionIdOf,
  type GateResult,
  type Prepared,
  type RunnerRequest,
  type RunResult,
  runnerErrors,
  type StepFailure,
  type TaskAction,
  taskActionOf,
  taskRunName,
} from './task-actions.ts';

/** An error the runner throws with a name Step Functions' Retry/Catch and the execution's error show. */
export class RunnerError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

/** Why one attempt of a task failed (the runner decides whether it was the last). */
class AttemptError extends Error {
  override readonly name = 'AttemptError';
}

const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Single-quotes a value for /bin/sh, so a parameter can never inject shell syntax. */
export const shellQuote = (value: unknown): string =>
  `'${(typeof value === 'string' ? value : JSON.stringify(value)).replaceAll("'", `'\\''`)}'`;

/** `${name}` placeholders filled from the task input, each shell-quoted. */
export function renderCommand(template: string, input: JsonObject): string {
  return template.replace(/\$\{([A-Za-z_][A-Za-z0-9_.]*)\}/g, (placeholder, path: string) => {
    const read = readPath(input, `$.${path}`);
    return read.found ? shellQuote(read.value) : placeholder;
  });
}

interface Located {
  /** What the state asks for. */
  action: TaskAction;
  task: Task;
  /** The (sub-)graph the task belongs to. */
  graph: Task[];
  runName: string;
  scope: Scope;
}

export interface TaskRunnerDependencies {
  records: EngineRecords;
  contexts: ContextStore;
  orchestrator: Orchestrator;
  http: HttpCaller;
  /** Loads the descriptor an execution runs. */
  descriptorOf: (execution: ExecutionRecord) => Promise<FlowDescriptor>;
  /**
   * Creates the child execution of a subflow task (its record and context;
   * the state machine starts it) and says where it runs.
   */
  startChild: (
    parent: ExecutionRecord,
    runName: string,
    flowId: string,
    input: JsonObject,
  ) => Promise<{ stateMachineArn: string; executionId: string }>;
  now?: () => Date;
}

/**
 * Executes the TaskAction payloads of generated state machines (see
 * task-actions.ts): join gates, input/output mappings over the context,
 * inline task kinds, preparation and completion of external ones, task-run
 * records and logs. Every action is idempotent, so a retried or redriven
 * state is harmless: a finished task answers with its stored result.
 */
export class TaskRunner {
  readonly deps: TaskRunnerDependencies;
  constructor(deps: TaskRunnerDependencies) {
    this.deps = deps;
  }

  private now(): string {
    return (this.deps.now?.() ?? new Date()).toISOString();
  }

  /** What the runner reads of an execution never changes (flow, version, tenant), so it is read once. */
  private readonly executions = new Map<string, Promise<ExecutionRecord>>();

  private execution(id: string): Promise<ExecutionRecord> {
    let found = this.executions.get(id);
    if (!found) {
      found = this.deps.records.getExecution(id).then((record) => {
        if (!record) throw notFound(`Execution ${id} does not exist`);
        return record;
      });
      found.catch(() => this.executions.delete(id));
      if (this.executions.size > 10_000) this.executions.clear();
      this.executions.set(id, found);
    }
    return found;
  }

  /** Runs what a state asks for: its payload (task-actions.ts) or an explicit TaskAction. */
  async handle(request: RunnerRequest): Promise<unknown> {
    const execution = await this.execution(executionIdOf(request));
    const located = await this.locate(execution, request);
    const { action } = located;
    switch (action.action) {
      case 'await':
        return this.await(execution, located, action.token);
      case 'run':
        return this.run(execution, located, action.attempt, action.skip ?? false);
      case 'start-async':
        return this.startAsync(execution, located, action.token, action.attempt);
      case 'complete':
        return action.failure
          ? this.completeFailed(execution, located, action.failure, action.redriveCount ?? 0)
          : this.complete(execution, located, action.result);
    }
  }

  /**
   * Reads the request against the execution's descriptor (a state's payload
   * names its task and action by the state's name) and finds the task (inside
   * foreach scopes like `fan[3].inner[0]`) and its iteration item.
   */
  private async locate(execution: ExecutionRecord, request: RunnerRequest): Promise<Located> {
    const descriptor = await this.deps.descriptorOf(execution);
    const action = taskActionOf(request, descriptor);
    let graph: Task[] = descriptor.tasks;
    let scope: Scope = {};
    let prefix = '';
    for (const segment of action.scope ? action.scope.split('.') : []) {
      const match = /^(.+)\[(\d+)\]$/.exec(segment);
      const parent = match ? graph.find((task) => task.name === match[1]) : undefined;
      if (!match || !parent || parent.kind !== 'foreach') throw notFound(`No foreach scope ${action.scope}`);
      const parentRun = await this.deps.records.getRun(execution.id, `${prefix}${parent.name}`);
      const items = (parentRun?.output as { items?: unknown[] } | undefined)?.items ?? [];
      const index = Number(match[2]);
      scope = { item: items[index], index };
      graph = parent.tasks;
      prefix = `${prefix}${segment}.`;
    }
    const task = graph.find((candidate) => candidate.name === action.task);
    if (!task) throw notFound(`Flow of execution ${execution.id} has no task ${action.task}`);
    return { action, task, graph, scope, runName: taskRunName(action) };
  }

  private async log(executionId: string, level: LogLevel, task: string | undefined, message: string) {
    await this.deps.records.appendLog({
      executionId,
      timestamp: this.now(),
      level,
      logger: 'engine',
      ...(task ? { task } : {}),
      message,
    });
  }

  // Join gates

  private async await({ id }: ExecutionRecord, { task, runName }: Located, token: string): Promise<void> {
    await this.deps.records.saveToken({ token, executionId: id, run: runName, purpose: 'gate' });
    const gate = await this.deps.records.updateGate(id, runName, (current) => ({ ...current, token }));
    await this.releaseIfComplete(id, runName, task, gate);
  }

  /**
   * Sends the gate's token once every upstream arrived; exactly one caller sends per token.
   * The task is skipped when an upstream skipped it (`all` join) or when none ran (`any` join).
   */
  private async releaseIfComplete(executionId: string, runName: string, task: Task, seen: Gate) {
    const upstreams = task.dependsOn.length;
    if (!seen.token || seen.arrived.length < upstreams) return;
    let release: { token: string; skip: boolean } | undefined;
    await this.deps.records.updateGate(executionId, runName, (gate) => {
      release = undefined;
      if (!gate.token || gate.arrived.length < upstreams || gate.releasedToken === gate.token) return gate;
      release = { token: gate.token, skip: task.join === 'any' ? !gate.ran : gate.skip };
      return { ...gate, releasedToken: gate.token };
    });
    if (release)
      await this.deps.orchestrator.sendTaskSuccess(release.token, {
        skip: release.skip,
      } satisfies GateResult);
  }

  /** Tells every downstream task of the same graph that `from` finished; `active` says whether it may run. */
  private async signalDownstream(
    executionId: string,
    located: Located,
    active: (downstream: string) => boolean,
  ): Promise<void> {
    const prefix = located.runName.slice(0, located.runName.length - located.task.name.length);
    const downstream = located.graph.filter((task) => task.dependsOn.includes(located.task.name));
    await Promise.all(
      downstream.map(async (task) => {
        const runName = `${prefix}${task.name}`;
        const gate = await this.deps.records.updateGate(executionId, runName, (current) => ({
          ...current,
          arrived: current.arrived.includes(located.task.name)
            ? current.arrived
            : [...current.arrived, located.task.name],
          skip: current.skip || !active(task.name),
          ran: current.ran === true || active(task.name),
        }));
        await this.releaseIfComplete(executionId, runName, task, gate);
      }),
    );
  }

  // Running

  private async run(execution: ExecutionRecord, located: Located, attempt: number, skip: boolean) {
    const { task, runName } = located;
    let finishedBefore = false;
    const started = await this.deps.records.updateRun(execution.id, runName, (run) => {
      finishedBefore = run.status === 'SUCCEEDED' || run.status === 'SKIPPED';
      if (finishedBefore) return run;
      if (skip) return { ...run, status: 'SKIPPED', endedAt: this.now() };
      return { ...run, status: 'RUNNING', attempts: attempt + 1, startedAt: run.startedAt ?? this.now() };
    });
    if (finishedBefore) {
      // A redriven or duplicated state: re-signal (signals are idempotent) and let an external
      // task's branch end here (`skip`), so its command, function or subflow never runs twice.
      await this.signalDownstream(execution.id, located, (name) => this.edgeActive(started, name));
      return { done: true } satisfies RunResult;
    }
    if (started.status === 'SKIPPED') {
      await this.log(
        execution.id,
        'INFO',
        runName,
        `Task ${runName} skipped: an upstream task was skipped or not chosen`,
      );
      await this.signalDownstream(execution.id, located, () => false);
      return { done: true, skipped: true } satisfies RunResult;
    }
    await this.log(execution.id, 'INFO', runName, `Task ${runName} started (attempt ${attempt + 1})`);
    try {
      const context = await this.deps.contexts.read(execution.id);
      const input = mapInput(context, task.input, located.scope);
      const prepared = await this.prepareExternal(execution, located, input);
      if (prepared) {
        await this.deps.records.updateRun(execution.id, runName, (run) => ({ ...run, input, prepared }));
        return { done: false, prepared } satisfies RunResult;
      }
      const outcome = await this.runInline(task, input);
      await this.succeed(execution, located, input, outcome.output, outcome.active);
      return { done: true } satisfies RunResult;
    } catch (error) {
      await this.failAttempt(execution, located, attempt, error);
    }
  }

  private edgeActive(run: TaskRunRecord, downstream: string): boolean {
    return run.status !== 'SKIPPED' && !(run.disabled ?? []).includes(downstream);
  }

  /** http, pass, choice and return tasks run right here. */
  private async runInline(
    task: Task,
    input: JsonObject,
  ): Promise<{ output: unknown; active?: (name: string) => boolean }> {
    switch (task.kind) {
      case 'pass':
        return { output: input };
      case 'http': {
        const response = await this.deps.http
          .call({
            url: task.url,
            method: task.method,
            headers: task.headers,
            body: input,
            // A little inside the state's TimeoutSeconds, so the runner records the timeout itself.
            ...(task.timeoutSeconds ? { timeoutMs: Math.max(100, task.timeoutSeconds * 1000 - 250) } : {}),
          })
          .catch((error: unknown) => {
            if (error instanceof Error && error.name === 'TimeoutError') {
              throw new AttemptError(`timed out after ${task.timeoutSeconds} s waiting for ${task.url}`);
            }
            throw error;
          });
        if (response.status < 200 || response.status > 299) {
          throw new AttemptError(
            `HTTP ${response.status} from ${task.url}: ${JSON.stringify(response.body).slice(0, 500)}`,
          );
        }
        return { output: isObject(response.body) ? response.body : { data: response.body ?? null } };
      }
      case 'choice': {
        const branch = task.branches.find((candidate) => matches(candidate.condition, { input }));
        const chosen = new Set(branch ? branch.next : task.otherwise);
        const governed = new Set([...task.branches.flatMap((b) => b.next), ...task.otherwise]);
        return { output: { chosen: [...chosen] }, active: (name) => !governed.has(name) || chosen.has(name) };
      }
      case 'return': {
        const stop = matches(task.condition, { input });
        return { output: { returned: stop }, active: () => !stop };
      }
      default:
        throw new Error(`task kind ${task.kind} is not inline`);
    }
  }

  /**
   * External kinds only prepare here (RunResult.prepared in task-actions.ts);
   * their state machine step does the work, then `complete` records it.
   */
  private async prepareExternal(
    execution: ExecutionRecord,
    located: Located,
    input: JsonObject,
  ): Promise<Prepared | undefined> {
    const { task, runName } = located;
    switch (task.kind) {
      case 'command': {
        const script = renderCommand(task.command, input);
        // Step Functions (and its Retry) treat every non-zero exit as a failure: exit codes the task
        // counts as success become 0 inside the container, so they are never retried or failed.
        const alsoSuccess = task.successExitCodes.filter((code) => code !== 0);
        return {
          command:
            alsoSuccess.length === 0
              ? script
              : `(${script}); code=$?; case $code in ${alsoSuccess.join('|')}) exit 0;; esac; exit $code`,
        };
      }
      case 'lambda':
        return { functionName: task.functionName, payload: input };
      case 'wait':
        if (task.wakeUp) return {};
        return {
          until: task.until ?? new Date(Date.parse(this.now()) + (task.seconds ?? 0) * 1000).toISOString(),
        };
      case 'foreach': {
        const read = readPath({ input }, task.items);
        if (!read.found || !Array.isArray(read.value))
          throw new AttemptError(`foreach items ${task.items} is not an array`);
        const items = read.value;
        await this.deps.records.updateRun(execution.id, runName, (run) => ({ ...run, output: { items } }));
        return { indices: items.map((_, index) => index) };
      }
      case 'subflow':
        return this.deps.startChild(execution, runName, task.flowId, input);
      case 'async':
        return {};
      default:
        return undefined;
    }
  }

  private async startAsync(execution: ExecutionRecord, located: Located, token: string, attempt: number) {
    const { task, runName } = located;
    await this.deps.records.saveToken({
      token,
      executionId: execution.id,
      run: runName,
      purpose: task.kind === 'wait' ? 'wake-up' : 'async',
    });
    const run = await this.deps.records.updateRun(execution.id, runName, (current) => ({
      ...current,
      status: 'WAITING',
      token,
    }));
    await this.log(execution.id, 'INFO', runName, `Task ${runName} is waiting for its callback token`);
    if (task.kind === 'async' && task.url) {
      const values: Record<string, string> = { executionId: execution.id, task: runName, token };
      const fill = (template: string) =>
        template.replace(/\$\{(executionId|task|token)\}/g, (_placeholder, name: string) =>
          encodeURIComponent(values[name] as string),
        );
      const input = run.input ?? {};
      const url = fill(task.url);
      try {
        const response = await this.deps.http.call({
          url,
          method: 'POST',
          headers: Object.fromEntries(
            Object.entries(task.headers).map(([name, value]) => [name, fill(value)]),
          ),
          body: task.request === 'input' ? input : { token, executionId: execution.id, task: runName, input },
          // The executor only has to accept the work; the task then waits for its callback.
          timeoutMs: 30_000,
        });
        if (response.status < 200 || response.status > 299) {
          throw new AttemptError(
            `HTTP ${response.status} from ${url}: ${JSON.stringify(response.body).slice(0, 500)}`,
          );
        }
      } catch (error) {
        await this.failAttempt(execution, located, attempt, error);
      }
    }
  }

  /** Finishes an external task with what its step produced. */
  private async complete(execution: ExecutionRecord, located: Located, result: unknown) {
    const { task, runName } = located;
    const run = await this.deps.records.getRun(execution.id, runName);
    if (run?.status === 'SUCCEEDED' || run?.status === 'SKIPPED') return { done: true };
    const input = run?.input ?? {};
    try {
      let output: unknown = result;
      if (task.kind === 'command') {
        const exitCode = commandExitCode(result);
        if (!task.successExitCodes.includes(exitCode)) {
          throw new AttemptError(
            `command exited with ${exitCode} (success: ${task.successExitCodes.join(', ')})`,
          );
        }
        output = { exitCode };
      } else if (task.kind === 'lambda' && isObject(result) && 'Payload' in result) {
        output = result.Payload;
      } else if (task.kind === 'foreach') {
        const items = (run?.output as { items?: unknown[] } | undefined)?.items ?? [];
        output = task.collect
          ? { items, collected: await this.collected(execution.id, runName, task.collect, items.length) }
          : { items };
      } else if (task.kind === 'subflow') {
        const child = await this.childOutput(result);
        output = task.returns === 'context' ? ((child as { context?: unknown }).context ?? {}) : child;
      } else if (!isObject(output)) {
        output = { data: output ?? null };
      }
      await this.succeed(execution, located, input, output);
      return { done: true };
    } catch (error) {
      // No retry is left at this point: the external step already used them.
      await this.failAttempt(execution, located, Number.MAX_SAFE_INTEGER, error);
    }
  }

  /**
   * The external step failed (after its retries). An ECS task that exited
   * with a code the task counts as success (successExitCodes) still succeeds:
   * Step Functions fails runTask.sync on any non-zero exit.
   */
  private async completeFailed(
    execution: ExecutionRecord,
    located: Located,
    failure: StepFailure,
    redriveCount: number,
  ): Promise<{ rerun: boolean }> {
    const recorded = await this.deps.records.getRun(execution.id, located.runName);
    if (recorded?.status === 'FAILED' && (recorded.failedInRun ?? 0) < redriveCount) {
      // RedriveExecution re-entered the failure step of an execution that was resumed: run it again.
      await this.log(
        execution.id,
        'INFO',
        located.runName,
        `Task ${located.runName} runs again after the resume`,
      );
      return { rerun: true };
    }
    const exitCode = exitCodeOf(failure.Cause);
    if (
      located.task.kind === 'command' &&
      exitCode !== undefined &&
      located.task.successExitCodes.includes(exitCode)
    ) {
      await this.complete(execution, located, { exitCode });
      return { rerun: false };
    }
    const reason =
      exitCode !== undefined
        ? `command exited with ${exitCode}`
        : `${failure.Error ?? 'error'}: ${summarize(failure.Cause)}`;
    await this.deps.records.updateRun(execution.id, located.runName, (run) => ({
      ...run,
      failedInRun: redriveCount,
    }));
    await this.failAttempt(execution, located, Number.MAX_SAFE_INTEGER, new AttemptError(reason));
    return { rerun: false };
  }

  /** A waited-for subflow's output is its execution's final context. */
  /** Each iteration's output of the foreach's `collect` task (null where it has none), in item order. */
  private async collected(
    executionId: string,
    foreach: string,
    task: string,
    count: number,
  ): Promise<unknown[]> {
    const outputs = new Map(
      (await this.deps.records.listRuns(executionId))
        .filter((run) => run.task.startsWith(`${foreach}[`) && run.status === 'SUCCEEDED')
        .map((run) => [run.task, run.output]),
    );
    return Array.from({ length: count }, (_, index) => outputs.get(`${foreach}[${index}].${task}`) ?? null);
  }

  private async childOutput(result: unknown): Promise<unknown> {
    const arn = isObject(result) && typeof result.executionArn === 'string' ? result.executionArn : undefined;
    const childId = arn?.split(':').at(-1);
    return childId ? { executionId: childId, context: await this.deps.contexts.read(childId) } : {};
  }

  private async succeed(
    execution: ExecutionRecord,
    located: Located,
    input: JsonObject,
    output: unknown,
    active: (name: string) => boolean = () => true,
  ): Promise<void> {
    const { task, runName } = located;
    const document = { input, output } as JsonObject;
    if (task.failCondition && matches(task.failCondition, document)) {
      throw new AttemptError(`fail condition ${task.failCondition} matched the output`);
    }
    if (task.successCondition && !matches(task.successCondition, document)) {
      throw new AttemptError(`success condition ${task.successCondition} did not match the output`);
    }
    if (task.output.length > 0) {
      await this.deps.contexts.update(execution.id, (context) =>
        mapOutput(context, input, output, task.output, located.scope),
      );
    }
    const downstream = located.graph
      .filter((candidate) => candidate.dependsOn.includes(task.name))
      .map((t) => t.name);
    const disabled = downstream.filter((name) => !active(name));
    await this.deps.records.updateRun(execution.id, runName, (run) => ({
      ...run,
      status: 'SUCCEEDED',
      endedAt: this.now(),
      output,
      ...(disabled.length > 0 ? { disabled } : {}),
    }));
    await this.log(execution.id, 'INFO', runName, `Task ${runName} succeeded`);
    await this.signalDownstream(execution.id, located, active);
  }

  private async failAttempt(
    execution: ExecutionRecord,
    { task, runName }: Located,
    attempt: number,
    error: unknown,
  ) {
    const message = error instanceof Error ? error.message : String(error);
    const final = attempt >= (task.retry?.maxRetries ?? 0);
    await this.deps.records.updateRun(execution.id, runName, (run) => ({
      ...run,
      status: final ? 'FAILED' : 'RUNNING',
      ...(final ? { endedAt: this.now() } : {}),
      error: { error: final ? runnerErrors.taskFailed : runnerErrors.attemptFailed, cause: message },
    }));
    await this.log(
      execution.id,
      final ? 'ERROR' : 'WARN',
      runName,
      final
        ? `Task ${runName} failed: ${message}`
        : `Task ${runName} attempt ${attempt + 1} failed: ${message}`,
    );
    if (final) throw new RunnerError(runnerErrors.taskFailed, `Task ${runName} failed: ${message}`);
    throw new RunnerError(
      runnerErrors.attemptFailed,
      `Task ${runName} attempt ${attempt + 1} failed: ${message}`,
    );
  }
}

/** The exit code in an ECS task description (a failed runTask.sync's cause), if there is one. */
function exitCodeOf(cause: string | undefined): number | undefined {
  if (!cause) return undefined;
  try {
    const code = (JSON.parse(cause) as { Containers?: Array<{ ExitCode?: unknown }> }).Containers?.[0]
      ?.ExitCode;
    return typeof code === 'number' ? code : undefined;
  } catch {
    return undefined;
  }
}

/** A cause in words: Lambda's `{errorMessage}` JSON, or the text itself, shortened. */
function summarize(cause: string | undefined): string {
  if (!cause) return 'no cause given';
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown };
    if (typeof parsed.errorMessage === 'string') return parsed.errorMessage;
  } catch {
    // Not JSON.
  }
  return cause.length > 500 ? `${cause.slice(0, 500)}…` : cause;
}

function commandExitCode(result: unknown): number {
  if (isObject(result) && typeof result.exitCode === 'number') return result.exitCode;
  // ECS runTask.sync's result: Containers[0].ExitCode.
  const containers = isObject(result) ? result.Containers : undefined;
  const first = Array.isArray(containers) ? containers[0] : undefined;
  if (isObject(first) && typeof first.ExitCode === 'number') return first.ExitCode;
  throw new AttemptError('the command step reported no exit code');
}
