/**
 * The contract between a generated state machine and the task runner: every
 * Task state of a Sluice definition invokes the runner with one of these
 * payloads (locally the orchestrator adapter calls the runner in-process with
 * the very same payloads). The execution's context never travels in the state
 * payload; states carry only `executionId` and small control values, so a
 * multi-megabyte context fits under Step Functions' 256 KiB payload limit.
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
    });

/** What a Catch hands on: the error name and its cause (often JSON, e.g. an ECS task description). */
export interface StepFailure {
  Error?: string;
  Cause?: string;
}

/** The full name of a task run: `task` at top level, `scope.task` inside a foreach iteration. */
export const taskRunName = ({ task, scope }: { task: string; scope?: string | undefined }): string =>
  scope ? `${scope}.${task}` : task;

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
