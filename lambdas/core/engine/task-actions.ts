/**
 * The contract between a generated state machine and the task runner: every
 * runner Task state of a Sluice definition invokes the runner with a
 * {@link StatePayload}, which {@link taskActionOf} turns into a
 * {@link TaskAction} (the runner does so when it has loaded the execution's
 * descriptor; locally the orchestrator adapter calls the runner in-process
 * with the very same payloads). The execution's context never travels in the
 * state payload, so a multi-megabyte context fits under Step Functions'
 * 256 KiB payload limit.
 *
 * Payloads hold no per-state constant, so thousands of states stay far under
 * the 1 MiB definition limit: a state sends Step Functions' context object
 * (`$$`), alone (`"Payload.$": "$$"`) or, when it has input of its own, as
 * `c` next to it (`"Payload": { "c.$": "$$", "g.$": "$.gate" }`). From the
 * context object the runner reads `Execution.Name` (the execution id:
 * executions are named by their id), `State.Name` (task and action, see
 * state-names.ts), `State.RetryCount` (the attempt) and `Task.Token`. The
 * state's own input: `g` (the gate's {@link GateResult}, on `T`),
 * `r` (the external step's result, on `T:complete`), `scope` (inside a
 * foreach) and `failure` (a caught step failure). The runner still accepts
 * explicit TaskActions, as states compiled before this layout send them.
 *
 * State layout per task T (`scope` is set inside a foreach iteration, e.g. `fan[3]`):
 * - `T:await` (only when T has upstream tasks): `.waitForTaskToken` + `await`;
 *   the runner parks the token at T's gate; the last upstream to finish
 *   releases it with `{ skip }` (skip = an upstream was skipped, or a choice
 *   or return task disabled the edge).
 * - `T` : `run` (Retry/TimeoutSeconds of the task). Inline kinds (http, pass,
 *   choice, return) do all their work here; external kinds (async, command,
 *   lambda, wait, subflow, foreach) only prepare here and end in `complete`.
 * - external step, e.g. `T:async` (`.waitForTaskToken` + `start-async`),
 *   `T:container` (ECS runTask.sync), `T:each` (Map), then `T:complete`.
 */

import type { FlowDescriptor } from '../flow/model.ts';
import { stateTarget } from './state-names.ts';

/** Output of the gate: whether the task is to be skipped. */
export interface GateResult {
  skip: boolean;
}

interface Addressed {
  executionId: string;
  /** Task name as written in the descriptor. */
  task: string;
  /** Foreach iteration the task runs in, e.g. `fan[3]`; absent at top level. */
  scope?: string;
}

export type TaskAction =
  | (Addressed & { action: 'await'; token: string })
  | (Addressed & { action: 'run'; attempt: number; skip?: boolean })
  | (Addressed & { action: 'start-async'; attempt: number; token: string })
  | (Addressed & {
      action: 'complete';
      result?: unknown;
      /** Set when the external step failed (its Catch): Step Functions' error and cause. */
      failure?: StepFailure;
      /** Which run of the execution reports the failure (0, then one more per RedriveExecution). */
      redriveCount?: number;
    });

/** What a Catch hands on: the error name and its cause (often JSON, e.g. an ECS task description). */
export interface StepFailure {
  Error?: string;
  Cause?: string;
}

/** The full name of a task run: `task` at top level, `scope.task` inside a foreach iteration. */
export const taskRunName = ({ task, scope }: { task: string; scope?: string | undefined }): string =>
  scope ? `${scope}.${task}` : task;

/** The part of Step Functions' context object (`$$`) the runner reads. */
export interface StateContext {
  Execution: { Name: string; RedriveCount?: number };
  State: { Name: string; RetryCount: number };
  /** Present in `.waitForTaskToken` states. */
  Task?: { Token?: string };
}

/** A state's input of its own, next to the context object `c`. */
export interface StateInput {
  c: StateContext;
  /** On `T` after `T:await`: what the gate released. */
  g?: GateResult;
  /** On `T:complete`: the external step's result. */
  r?: unknown;
  /** Inside a foreach: the iteration, e.g. `fan[3]`. */
  scope?: string;
  /** The external step's caught failure. */
  failure?: StepFailure;
}

/** What a runner state sends: `$$` alone, or with input of its own. */
export type StatePayload = StateContext | StateInput;

/** What the runner accepts: a state's payload, or an explicit action (older definitions, tests). */
export type RunnerRequest = StatePayload | TaskAction;

const isStateInput = (request: RunnerRequest): request is StateInput => 'c' in request;
const isTaskAction = (request: RunnerRequest): request is TaskAction => 'action' in request;

/** The execution a request is for. */
export const executionIdOf = (request: RunnerRequest): string =>
  isTaskAction(request) ? request.executionId : (isStateInput(request) ? request.c : request).Execution.Name;

/** The state a request comes from; undefined for an explicit action. */
export const stateNameOf = (request: RunnerRequest): string | undefined =>
  isTaskAction(request) ? undefined : (isStateInput(request) ? request.c : request).State.Name;

/**
 * Turns what a state sent into its TaskAction: the task and the action come
 * from the state's name, read against the flow's descriptor with the
 * compiler's naming (state-names.ts). Throws a `Sluice.BadPayload` error
 * when the state is no runner state of this flow, its scope does not match
 * the state's foreach, or a token state sent no token.
 */
export function taskActionOf(request: RunnerRequest, descriptor: FlowDescriptor): TaskAction {
  if (isTaskAction(request)) return request;
  const input: StateInput = isStateInput(request) ? request : { c: request };
  const { c: context, scope } = input;
  const state = context.State.Name;
  const target = stateTarget(descriptor, state);
  if (!target) throw badPayload(`State ${state} is no runner state of flow ${descriptor.name}`);
  const scopeNames = scope ? scope.split('.').map((segment) => segment.replace(/\[\d+\]$/, '')) : [];
  if (scopeNames.join('.') !== target.foreach.join('.'))
    throw badPayload(
      `State ${state} runs in ${target.foreach.join('.') || 'no foreach'}, not in scope ${scope}`,
    );
  const addressed = { executionId: context.Execution.Name, task: target.task, ...(scope ? { scope } : {}) };
  const token = () => {
    const found = context.Task?.Token;
    if (!found) throw badPayload(`State ${state} sent no task token`);
    return found;
  };
  const attempt = context.State.RetryCount;
  switch (target.action) {
    case 'await':
      return { ...addressed, action: 'await', token: token() };
    case 'run':
      return { ...addressed, action: 'run', attempt, ...(input.g ? { skip: input.g.skip } : {}) };
    case 'start-async':
      return { ...addressed, action: 'start-async', attempt, token: token() };
    case 'complete':
      return {
        ...addressed,
        action: 'complete',
        ...('r' in input ? { result: input.r } : {}),
        ...(input.failure ? { failure: input.failure } : {}),
        ...(input.failure && context.Execution.RedriveCount !== undefined
          ? { redriveCount: context.Execution.RedriveCount }
          : {}),
      };
  }
}

const badPayload = (message: string) => Object.assign(new Error(message), { name: 'Sluice.BadPayload' });

/**
 * Errors the runner throws so Step Functions (and the execution's error)
 * says which task failed and why. `TaskFailed` is final (no retry left).
 */
export const runnerErrors = {
  taskFailed: 'Sluice.TaskFailed',
  attemptFailed: 'Sluice.AttemptFailed',
  timedOut: 'Sluice.TaskTimedOut',
} as const;

/** What an external task's `run` prepared for its state machine step. */
export interface Prepared {
  /** command: a shell script, run as `sh -c <command>`. */
  command?: string;
  functionName?: string;
  payload?: unknown;
  /** wait (seconds/until): RFC 3339 time to wait until. */
  until?: string;
  /** foreach: indices of the items; iteration scopes are `T[<index>]`. */
  indices?: number[];
  /** subflow: where the already recorded child execution runs, and its id. */
  stateMachineArn?: string;
  executionId?: string;
}

/**
 * What the runner answers to `run` (kept at `$.run.Payload`). `done` ends the
 * branch: inline kinds, a skipped task, a task finished before a redrive. An
 * external kind answers `done: false` with what it prepared.
 */
export interface RunResult {
  done: boolean;
  skipped?: boolean;
  prepared?: Prepared;
}
