import { DomainError } from '../core/errors.ts';

/**
 * Orchestrator port: runs generated state machines. On AWS, Step Functions
 * (lambdas/adapters/aws/sfn-orchestrator.ts); locally, an in-process
 * interpreter of the same definition (lambdas/adapters/local/local-orchestrator.ts).
 */

/** An Amazon States Language definition (JSONPath flavour). */
export type AslDefinition = Record<string, unknown> & { StartAt: string; States: Record<string, unknown> };

export interface StateMachineRef {
  /** ARN on AWS; a local id locally. */
  id: string;
}

export interface ExecutionOutcome {
  status: 'SUCCEEDED' | 'FAILED' | 'STOPPED';
  error?: string;
  cause?: string;
}

export interface Orchestrator {
  /** Creates or updates the state machine of one flow version; idempotent. */
  deploy(name: string, definition: AslDefinition): Promise<StateMachineRef>;
  /**
   * Starts an execution named `executionId` with input `{ executionId }`.
   * Starting the same id twice starts it once (the id is the client token).
   */
  start(stateMachine: StateMachineRef, executionId: string): Promise<void>;
  /** Stops a running execution; a no-op for one that already ended. */
  stop(stateMachine: StateMachineRef, executionId: string, cause: string): Promise<void>;
  /**
   * Re-runs a FAILED or STOPPED execution from where it ended (Step Functions'
   * RedriveExecution; locally a re-run whose finished tasks the runner skips).
   */
  redrive(stateMachine: StateMachineRef, executionId: string): Promise<void>;
  sendTaskSuccess(token: string, output: unknown): Promise<void>;
  sendTaskFailure(token: string, error: string, cause: string): Promise<void>;
  sendTaskHeartbeat(token: string): Promise<void>;
}

/**
 * What the engine is told when an execution ends, whichever way (locally by
 * the adapter, on AWS by the Step Functions status-change event).
 */
export type ExecutionEndedListener = (executionId: string, outcome: ExecutionOutcome) => Promise<void>;

/**
 * The task token of a sendTask* call is unknown, malformed, or belongs to a
 * task that already ended (completed, failed, timed out, or its execution
 * stopped). Both adapters throw it, so callers map one error to 404.
 * `reason` tells a never-valid token (`unknown`) from one that was valid and
 * is closed now (`closed`, e.g. a duplicate completion), for callers that
 * treat a repeated callback as harmless.
 */
export class TaskTokenNotFound extends DomainError {
  readonly reason: 'unknown' | 'closed';

  constructor(reason: 'unknown' | 'closed', message?: string) {
    super(
      'not-found',
      message ?? (reason === 'closed' ? 'The task of this token has already ended' : 'Unknown task token'),
    );
    this.name = 'TaskTokenNotFound';
    this.reason = reason;
  }
}
