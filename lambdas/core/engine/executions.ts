import { createHash, randomUUID } from 'node:crypto';
import type { Page, PageRequest } from '../../ports/metadata-store.ts';
import {
  type ExecutionOutcome,
  type Orchestrator,
  type StateMachineRef,
  TaskTokenNotFound,
} from '../../ports/orchestrator.ts';
import { conflict, isDomainErrorOf, notFound, validationFailed } from '../errors.ts';
import type { ExecutionStatus, LogEntry, LogLevel, TaskRunStatus, TriggerOrigin } from '../flow/model.ts';
import { createIfAbsent, wholeCollection } from '../stored-items.ts';
import type { ContextStore } from './context-store.ts';
import type { JsonObject } from './json-path.ts';
import type { EngineRecords, ExecutionRecord, TaskRunRecord } from './records.ts';

export interface ExecutionServiceDependencies {
  records: EngineRecords;
  contexts: ContextStore;
  orchestrator: Orchestrator;
  now?: () => Date;
  newId?: () => string;
}

export interface ExecutionView {
  execution: ExecutionRecord;
  runs: TaskRunRecord[];
  /** Share of the flow's top-level tasks that have finished, 0–100. */
  progress: number;
}

export interface ExecutionFilter {
  flowId?: string;
  status?: ExecutionStatus;
  /** ISO times bounding `startedAt`. */
  from?: string;
  to?: string;
}

export interface LogFilter {
  level?: LogLevel;
  task?: string;
  from?: string;
  to?: string;
  keyword?: string;
}

export type TokenOutcome = { delivered: true } | { delivered: false; reason: string };

const finishedRun: readonly TaskRunStatus[] = ['SUCCEEDED', 'FAILED', 'SKIPPED', 'STOPPED'];
const levelRank: Record<LogLevel, number> = { DEBUG: 0, INFO: 1, WARN: 2, ERROR: 3 };

/** Marker items of running executions, so a restarted local runtime can find and resume them. */
const runningCollection = 'executions#running';
const runningKey = (id: string) => ({ partition: `execution#${id}`, sort: 'running' });

/** Some hooks failed after an end was recorded; the end stands, the hooks run again on its redelivery. */
export class EndedHooksFailed extends AggregateError {
  readonly execution: ExecutionRecord;
  constructor(execution: ExecutionRecord, failures: unknown[]) {
    super(failures, `Completion hooks of execution ${execution.id} failed`);
    this.name = 'EndedHooksFailed';
    this.execution = execution;
  }
}

/** Told once when an execution ends (e.g. a dialect's completion callback). */
export type ExecutionEndedHook = (execution: ExecutionRecord) => Promise<void>;

/** Execution use cases: start, observe, stop, resume, callbacks and logs. */
export class ExecutionService {
  readonly deps: ExecutionServiceDependencies;
  private readonly endedHooks: ExecutionEndedHook[] = [];
  constructor(deps: ExecutionServiceDependencies) {
    this.deps = deps;
  }

  onEnded(hook: ExecutionEndedHook): void {
    this.endedHooks.push(hook);
  }

  private now() {
    return (this.deps.now?.() ?? new Date()).toISOString();
  }

  private async log(executionId: string, level: LogLevel, message: string) {
    await this.deps.records.appendLog({
      executionId,
      timestamp: this.now(),
      level,
      logger: 'engine',
      message,
    });
  }

  /**
   * Starts the latest (or given) version of a flow. `executionId` makes the
   * call idempotent: starting an id that exists returns that execution.
   */
  async start(
    tenant: string,
    flowId: string,
    options: {
      parameters?: JsonObject;
      executionId?: string;
      version?: number;
      trigger?: TriggerOrigin;
    } = {},
  ): Promise<ExecutionRecord> {
    if (options.executionId) {
      const existing = await this.deps.records.getExecution(options.executionId);
      if (existing) {
        if (existing.tenant !== tenant || existing.flowId !== flowId)
          throw conflict(`Execution id ${options.executionId} is taken`);
        // A repeated start (the client retried) starts it again: a no-op if it already runs.
        if (existing.status === 'RUNNING') await this.launch(existing);
        return existing;
      }
    }
    const head = await this.deps.records.getFlowHead(flowId);
    if (!head || head.data.tenant !== tenant) throw notFound(`Flow ${flowId} does not exist`);
    const version = await this.deps.records.getFlowVersion(
      flowId,
      options.version ?? head.data.latestVersion,
    );
    const execution: ExecutionRecord = {
      id: options.executionId ?? this.deps.newId?.() ?? randomUUID(),
      flowId,
      flowVersion: version.version,
      tenant,
      status: 'RUNNING',
      parameters: options.parameters ?? {},
      startedAt: this.now(),
      stateMachine: version.stateMachine,
      ...(options.trigger ? { trigger: options.trigger } : {}),
    };
    // The record first: a concurrent start with the same id loses here, before touching the context.
    try {
      await this.deps.records.createExecution(execution);
    } catch (error) {
      if (isDomainErrorOf(error, 'conflict') && options.executionId) {
        return this.start(tenant, flowId, options);
      }
      throw error;
    }
    // Then the context: the state machine's first task reads it at once.
    await this.deps.contexts.update(execution.id, () => ({
      ...version.descriptor.parameters,
      ...execution.parameters,
    }));
    await this.markRunning(execution.id);
    const origin = options.trigger ? ` by trigger ${options.trigger.id} for ${options.trigger.firedFor}` : '';
    await this.log(execution.id, 'INFO', `Execution of flow ${flowId} v${version.version} started${origin}`);
    await this.launch(execution);
    return execution;
  }

  /** Starts the state machine; if that fails the execution ends FAILED, never stays RUNNING. */
  private async launch(execution: ExecutionRecord): Promise<void> {
    try {
      await this.deps.orchestrator.start(execution.stateMachine, execution.id);
    } catch (error) {
      const cause = `the state machine did not start: ${error instanceof Error ? error.message : String(error)}`;
      await this.endedIgnoringHooks(execution.id, { status: 'FAILED', error: 'Sluice.StartFailed', cause });
      throw error;
    }
  }

  private async markRunning(id: string): Promise<void> {
    await createIfAbsent(this.deps.records.store, {
      key: runningKey(id),
      collection: { name: runningCollection, order: this.now() },
      data: { executionId: id },
    });
  }

  /**
   * The child execution of a subflow task: recorded (RUNNING, with the task
   * input as its context) for the state machine step that starts it. The id
   * derives from the parent and task, so a redriven parent reuses its child.
   */
  async createChild(
    parent: ExecutionRecord,
    runName: string,
    flowId: string,
    input: JsonObject,
  ): Promise<{ stateMachineArn: string; executionId: string }> {
    // Deterministic (a redriven parent reuses its child), unique per parent and task, a valid name.
    const digest = createHash('sha256').update(`${parent.id}/${runName}`).digest('hex').slice(0, 32);
    const id = `${parent.id.slice(0, 40).replace(/[^A-Za-z0-9_-]/g, '_')}-sub-${digest}`;
    const existing = await this.deps.records.getExecution(id);
    if (existing) {
      if (existing.tenant !== parent.tenant || existing.flowId !== flowId)
        throw conflict(`Execution id ${id} is taken`);
      return { stateMachineArn: existing.stateMachine.id, executionId: id };
    }
    const head = await this.deps.records.getFlowHead(flowId);
    if (!head || head.data.tenant !== parent.tenant) throw notFound(`Subflow ${flowId} does not exist`);
    const version = await this.deps.records.getFlowVersion(flowId, head.data.latestVersion);
    await this.deps.contexts.update(id, () => ({ ...version.descriptor.parameters, ...input }));
    await this.deps.records.createExecution({
      id,
      flowId,
      flowVersion: version.version,
      tenant: parent.tenant,
      status: 'RUNNING',
      parameters: input,
      startedAt: this.now(),
      stateMachine: version.stateMachine,
    });
    await this.markRunning(id);
    await this.log(id, 'INFO', `Started as subflow of execution ${parent.id} (task ${runName})`);
    return { stateMachineArn: version.stateMachine.id, executionId: id };
  }

  private async own(tenant: string, id: string): Promise<ExecutionRecord> {
    const execution = await this.deps.records.getExecution(id);
    if (!execution || execution.tenant !== tenant) throw notFound(`Execution ${id} does not exist`);
    return execution;
  }

  /** The execution if it exists in the tenant, without its runs. */
  async find(tenant: string, id: string): Promise<ExecutionRecord | undefined> {
    const execution = await this.deps.records.getExecution(id);
    return execution?.tenant === tenant ? execution : undefined;
  }

  async describe(tenant: string, id: string): Promise<ExecutionView> {
    const execution = await this.own(tenant, id);
    const runs = await this.deps.records.listRuns(id);
    const descriptor = (await this.deps.records.getFlowVersion(execution.flowId, execution.flowVersion))
      .descriptor;
    const topLevel = new Set(descriptor.tasks.map((task) => task.name));
    const finished = runs.filter((run) => topLevel.has(run.task) && finishedRun.includes(run.status)).length;
    const progress = execution.status === 'SUCCEEDED' ? 100 : Math.floor((finished / topLevel.size) * 100);
    return { execution, runs, progress };
  }

  async context(tenant: string, id: string): Promise<JsonObject> {
    await this.own(tenant, id);
    return this.deps.contexts.read(id);
  }

  /** Newest first; filters apply within each page, so a page may hold fewer than `limit` items. */
  async list(tenant: string, filter: ExecutionFilter, page: PageRequest): Promise<Page<ExecutionRecord>> {
    const result = await this.deps.records.listExecutions(tenant, { ...page, descending: true });
    const items = result.items
      .map((item) => item.data)
      .filter(
        (execution) =>
          (!filter.flowId || execution.flowId === filter.flowId) &&
          (!filter.status || execution.status === filter.status) &&
          (!filter.from || execution.startedAt >= filter.from) &&
          (!filter.to || execution.startedAt <= filter.to),
      );
    return { items, ...(result.cursor ? { cursor: result.cursor } : {}) };
  }

  async stop(tenant: string, id: string, cause = 'Stopped through the API'): Promise<ExecutionRecord> {
    const execution = await this.own(tenant, id);
    if (execution.status !== 'RUNNING') throw conflict(`Execution ${id} is ${execution.status}, not RUNNING`);
    await this.deps.orchestrator.stop(execution.stateMachine, id, cause);
    return this.endedIgnoringHooks(id, { status: 'STOPPED', error: 'Sluice.Stopped', cause });
  }

  /**
   * Runs an execution again as a new execution of the same flow version:
   * the named top-level tasks and everything downstream of them run anew,
   * every other finished task keeps its result. Without names, the tasks that
   * started but did not finish well (failed, running, stopped) are re-run.
   * `context` is merged into the copied context. A running execution is
   * stopped first. Works from any end state, unlike `resume`. `executionId`
   * names the new execution (a dialect that maps ids links it first).
   */
  async rerun(
    tenant: string,
    id: string,
    options: { tasks?: readonly string[]; context?: JsonObject; executionId?: string } = {},
  ): Promise<ExecutionRecord> {
    const previous = await this.own(tenant, id);
    const version = await this.deps.records.getFlowVersion(previous.flowId, previous.flowVersion);
    const graph = version.descriptor.tasks;
    const known = new Set(graph.map((task) => task.name));
    const runs = await this.deps.records.listRuns(id);
    const topLevelOf = (run: string) => run.split(/[[.]/)[0] ?? run;
    const named = (options.tasks ?? []).map((name) => name.trim()).filter(Boolean);
    const unknown = named.filter((name) => !known.has(name));
    if (unknown.length > 0) {
      throw validationFailed(`Flow ${previous.flowId} has no task ${unknown.join(', ')}`, [
        { path: 'tasks', message: `unknown task ${unknown.join(', ')}` },
      ]);
    }
    const chosen =
      named.length > 0
        ? named
        : runs
            .filter((run) => known.has(run.task) && !['SUCCEEDED', 'SKIPPED', 'PENDING'].includes(run.status))
            .map((run) => run.task);
    // The chosen tasks and, transitively, every task that depends on one of them.
    const reset = new Set(chosen);
    for (let grew = true; grew; ) {
      grew = false;
      for (const task of graph) {
        if (!reset.has(task.name) && task.dependsOn.some((upstream) => reset.has(upstream))) {
          reset.add(task.name);
          grew = true;
        }
      }
    }
    if (previous.status === 'RUNNING') await this.stop(tenant, id, 'Superseded by a rerun');
    const context = await this.deps.contexts.read(id);
    const execution: ExecutionRecord = {
      id: options.executionId ?? this.deps.newId?.() ?? randomUUID(),
      flowId: previous.flowId,
      flowVersion: previous.flowVersion,
      tenant,
      status: 'RUNNING',
      parameters: previous.parameters,
      startedAt: this.now(),
      stateMachine: version.stateMachine,
      rerunOf: previous.id,
    };
    await this.deps.records.createExecution(execution);
    await this.deps.contexts.update(execution.id, () => ({ ...context, ...options.context }));
    // Kept results: the runner finds these finished and only re-signals downstream.
    for (const run of runs) {
      if (reset.has(topLevelOf(run.task)) || (run.status !== 'SUCCEEDED' && run.status !== 'SKIPPED'))
        continue;
      const { token: _token, ...kept } = run;
      await this.deps.records.updateRun(execution.id, run.task, () => ({
        ...kept,
        executionId: execution.id,
      }));
    }
    await this.markRunning(execution.id);
    await this.log(
      execution.id,
      'INFO',
      `Rerun of execution ${previous.id}: ${reset.size > 0 ? `tasks ${[...reset].join(', ')} run again` : 'no task runs again'}`,
    );
    await this.launch(execution);
    return execution;
  }

  /** Runs a FAILED or STOPPED execution again from where it ended: finished tasks are not repeated. */
  async resume(tenant: string, id: string): Promise<ExecutionRecord> {
    const execution = await this.own(tenant, id);
    if (execution.status !== 'FAILED' && execution.status !== 'STOPPED') {
      throw conflict(`Execution ${id} is ${execution.status}; only FAILED or STOPPED executions resume`);
    }
    const resumed = await this.deps.records.updateExecution(id, (current) => {
      if (current.status !== 'FAILED' && current.status !== 'STOPPED') {
        throw conflict(`Execution ${id} is ${current.status}; only FAILED or STOPPED executions resume`);
      }
      const { endedAt: _ended, error: _error, ...rest } = current;
      return { ...rest, status: 'RUNNING', redrives: (current.redrives ?? 0) + 1 };
    });
    await this.markRunning(id);
    try {
      await this.deps.orchestrator.redrive(execution.stateMachine, id);
    } catch (error) {
      // Back to how it ended: a resume that did not start must not leave it RUNNING.
      await this.deps.records.updateExecution(id, () => execution);
      await this.deps.records.store.delete(runningKey(id));
      throw error;
    }
    await this.log(id, 'INFO', 'Execution resumed from where it ended');
    return resumed;
  }

  /** Records how an execution ended (from the orchestrator); unfinished task runs end with it. */
  async ended(id: string, reported: ExecutionOutcome, redriveCount?: number): Promise<ExecutionRecord> {
    const endedAt = this.now();
    const outcome = await this.explain(id, reported);
    let transitioned = false;
    const execution = await this.deps.records.updateExecution(id, (current) => {
      // An end reported for a run before the latest resume (a late or repeated event) is stale.
      const stale = redriveCount !== undefined && redriveCount < (current.redrives ?? 0);
      transitioned = current.status === 'RUNNING' && !stale;
      return !transitioned
        ? current
        : {
            ...current,
            status: outcome.status,
            endedAt,
            ...(outcome.status === 'SUCCEEDED'
              ? {}
              : {
                  error: {
                    ...(outcome.task ? { task: outcome.task } : {}),
                    error: outcome.error ?? 'Sluice.Failed',
                    cause: outcome.cause ?? '',
                  },
                }),
          };
    });
    // Told twice (e.g. stop through the API, then the orchestrator's own report): the first one counts,
    // unless its cleanup did not finish (the running marker goes last).
    if (
      !transitioned &&
      (execution.status === 'RUNNING' || !(await this.deps.records.store.get(runningKey(id))))
    ) {
      return execution;
    }
    const runs = await this.deps.records.listRuns(id);
    for (const run of runs.filter((candidate) => !finishedRun.includes(candidate.status))) {
      await this.deps.records.updateRun(id, run.task, (current) =>
        finishedRun.includes(current.status)
          ? current
          : {
              ...current,
              status:
                outcome.error === 'States.Timeout' && current.status === 'RUNNING' ? 'FAILED' : 'STOPPED',
              endedAt,
              error: {
                error: outcome.error ?? 'Sluice.Stopped',
                cause: outcome.cause ?? `execution ${outcome.status}`,
              },
            },
      );
    }
    await this.log(
      id,
      outcome.status === 'SUCCEEDED' ? 'INFO' : 'ERROR',
      `Execution ${outcome.status}${outcome.cause ? `: ${outcome.cause}` : ''}`,
    );
    // Every hook runs; a failing one keeps the running marker and fails the call, so the end's
    // redelivery (or the next start of the local runtime) runs the hooks again.
    const failures: unknown[] = [];
    for (const hook of this.endedHooks) {
      try {
        await hook(execution);
      } catch (error) {
        failures.push(error);
        await this.log(
          id,
          'WARN',
          `Completion hook failed: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    }
    if (failures.length > 0) throw new EndedHooksFailed(execution, failures);
    await this.deps.records.store.delete(runningKey(id));
    return execution;
  }

  /**
   * For callers that answer a client (stop) or go on with other work: the end
   * is recorded; hooks that failed run again when the end is reported again.
   */
  private async endedIgnoringHooks(id: string, outcome: ExecutionOutcome): Promise<ExecutionRecord> {
    try {
      return await this.ended(id, outcome);
    } catch (error) {
      if (error instanceof EndedHooksFailed) return error.execution;
      throw error;
    }
  }

  /**
   * Says which task failed and why in words: a runner error's cause is
   * Lambda's `{errorType, errorMessage}` JSON, and a state timeout names no
   * task, but the task run it interrupted is the one still RUNNING.
   */
  private async explain(
    id: string,
    outcome: ExecutionOutcome,
  ): Promise<ExecutionOutcome & { task?: string }> {
    if (outcome.status !== 'FAILED') return outcome;
    let cause = outcome.cause ?? '';
    try {
      const parsed = JSON.parse(cause) as { errorMessage?: unknown };
      if (typeof parsed.errorMessage === 'string') cause = parsed.errorMessage;
    } catch {
      // Not JSON: already words.
    }
    const failedTask = /^Task (\S+) failed/.exec(cause)?.[1];
    if (failedTask) return { ...outcome, cause, task: failedTask };
    if (outcome.error === 'States.Timeout') {
      const running = (await this.deps.records.listRuns(id)).filter((run) => run.status === 'RUNNING');
      if (running.length > 0) {
        const names = running.map((run) => run.task).join(', ');
        return { ...outcome, task: names, cause: `Task ${names} exceeded its timeout` };
      }
    }
    return { ...outcome, cause };
  }

  /** Ids of executions marked running (the local runtime resumes them after a restart). */
  async running(): Promise<string[]> {
    const marks = await wholeCollection<{ executionId: string }>(this.deps.records.store, runningCollection);
    return marks.map((mark) => mark.executionId);
  }

  /**
   * After a restart of the local runtime: every execution still marked
   * running is started again on a freshly deployed state machine (finished
   * tasks answer from their records, so it resumes where it was), or, if
   * that fails, ended FAILED with the reason. None stays RUNNING forever.
   */
  async resumeAfterRestart(
    redeploy: (flowId: string, version: number) => Promise<StateMachineRef>,
  ): Promise<number> {
    let resumed = 0;
    for (const id of await this.running()) {
      const execution = await this.deps.records.getExecution(id);
      if (!execution) {
        await this.deps.records.store.delete(runningKey(id));
        continue;
      }
      if (execution.status !== 'RUNNING') {
        // Ended, but its hooks did not all run: run them again.
        const { status, error } = execution;
        const outcome: ExecutionOutcome = {
          status: status === 'SUCCEEDED' ? 'SUCCEEDED' : status === 'STOPPED' ? 'STOPPED' : 'FAILED',
          ...(error ? { error: error.error, cause: error.cause } : {}),
        };
        await this.endedIgnoringHooks(id, outcome);
        continue;
      }
      try {
        const stateMachine = await redeploy(execution.flowId, execution.flowVersion);
        await this.deps.records.updateExecution(id, (current) => ({ ...current, stateMachine }));
        await this.log(id, 'WARN', 'Sluice restarted while this execution ran; resuming it where it was');
        await this.deps.orchestrator.start(stateMachine, id);
        resumed += 1;
      } catch (error) {
        const cause = `could not resume after a restart: ${error instanceof Error ? error.message : String(error)}`;
        await this.endedIgnoringHooks(id, { status: 'FAILED', error: 'Sluice.RestartFailed', cause });
      }
    }
    return resumed;
  }

  /** Completes the task waiting on `token` (async task, wake-up); a finished task makes this a no-op. */
  async completeToken(token: string, output: unknown): Promise<TokenOutcome> {
    const record = await this.deps.records.findToken(token);
    if (!record) throw notFound('Unknown callback token');
    const run = await this.deps.records.getRun(record.executionId, record.run);
    if (run && finishedRun.includes(run.status)) {
      return { delivered: false, reason: `task ${record.run} already ${run.status}` };
    }
    return this.deliver(() => this.deps.orchestrator.sendTaskSuccess(token, output ?? {}));
  }

  /** A token the orchestrator already closed (a duplicate callback) is answered, not refused. */
  private async deliver(send: () => Promise<void>): Promise<TokenOutcome> {
    try {
      await send();
      return { delivered: true };
    } catch (error) {
      if (error instanceof TaskTokenNotFound && error.reason === 'closed') {
        return { delivered: false, reason: 'the task of this token has already been completed' };
      }
      throw error;
    }
  }

  async failToken(token: string, error: string, cause: string): Promise<TokenOutcome> {
    const record = await this.deps.records.findToken(token);
    if (!record) throw notFound('Unknown callback token');
    const run = await this.deps.records.getRun(record.executionId, record.run);
    if (run && finishedRun.includes(run.status)) {
      return { delivered: false, reason: `task ${record.run} already ${run.status}` };
    }
    return this.deliver(() => this.deps.orchestrator.sendTaskFailure(token, error, cause));
  }

  async heartbeat(token: string): Promise<void> {
    if (!(await this.deps.records.findToken(token))) throw notFound('Unknown callback token');
    await this.deps.orchestrator.sendTaskHeartbeat(token);
  }

  /** The callback token of a task waiting in an execution (Rill Flow's finish.json names the task). */
  async waitingToken(tenant: string, id: string, run: string): Promise<string> {
    await this.own(tenant, id);
    const record = await this.deps.records.getRun(id, run);
    if (!record) throw notFound(`Execution ${id} has no task ${run}`);
    if (!record.token || record.status !== 'WAITING') {
      throw conflict(`Task ${run} of execution ${id} is ${record.status}, not waiting for a callback`);
    }
    return record.token;
  }

  /** A line a task's command wrote (locally the orchestrator streams them here). */
  async recordOutput(
    executionId: string,
    task: string,
    stream: 'stdout' | 'stderr',
    line: string,
  ): Promise<void> {
    await this.deps.records.appendLog({
      executionId,
      timestamp: this.now(),
      level: stream === 'stderr' ? 'WARN' : 'INFO',
      logger: `command.${stream}`,
      task,
      message: line,
    });
  }

  async logs(tenant: string, id: string, filter: LogFilter, page: PageRequest): Promise<Page<LogEntry>> {
    await this.own(tenant, id);
    const result = await this.deps.records.listLogs(id, page);
    const keyword = filter.keyword?.toLowerCase();
    const items = result.items
      .map((item) => item.data)
      .filter(
        (entry) =>
          (!filter.level || levelRank[entry.level] >= levelRank[filter.level]) &&
          (!filter.task || entry.task === filter.task) &&
          (!filter.from || entry.timestamp >= filter.from) &&
          (!filter.to || entry.timestamp <= filter.to) &&
          (!keyword || entry.message.toLowerCase().includes(keyword)),
      );
    return { items, ...(result.cursor ? { cursor: result.cursor } : {}) };
  }
}
