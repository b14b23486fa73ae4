/**
 * Step Functions adapter of the {@link Orchestrator} port: one STANDARD state
 * machine per flow version, one execution per Sluice execution (named by the
 * execution id, so the id doubles as the idempotency key of StartExecution).
 *
 * Error mapping (the service's exception names, as the SDK reports them):
 * - `ExecutionAlreadyExists` on start → success (the port's "start once").
 * - `TaskDoesNotExist` / `InvalidToken` / `TaskTimedOut` on sendTask* →
 *   {@link TaskTokenNotFound} (a `not-found` domain error, so dialects answer 404).
 * - `ExecutionDoesNotExist` / `StateMachineDoesNotExist` → `not-found`;
 *   `ExecutionNotRedrivable` → `conflict`. Anything else propagates unchanged
 *   (an unexpected fault, i.e. a 500).
 */
import {
  CreateStateMachineCommand,
  type LoggingConfiguration,
  RedriveExecutionCommand,
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  type SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
  type TracingConfiguration,
  UpdateStateMachineCommand,
} from '@aws-sdk/client-sfn';
import { conflict, notFound, validationFailed } from '../../core/errors.ts';
import {
  type AslDefinition,
  type Orchestrator,
  type StateMachineRef,
  TaskTokenNotFound,
} from '../../ports/orchestrator.ts';

export interface SfnOrchestratorOptions {
  client: SFNClient;
  /** Execution role every state machine assumes. */
  roleArn: string;
  /** CloudWatch Logs configuration of every state machine (absent: Step Functions' default, no logs). */
  loggingConfiguration?: LoggingConfiguration;
  tracingConfiguration?: TracingConfiguration;
}

/** `arn:…:stateMachine:NAME` → `arn:…:execution:NAME:EXECUTION_ID`. */
export function executionArn(stateMachineArn: string, executionId: string): string {
  if (!stateMachineArn.includes(':stateMachine:')) {
    throw new Error(`Not a state machine ARN: ${stateMachineArn}`);
  }
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${executionId}`;
}

const errorName = (error: unknown): string | undefined => (error instanceof Error ? error.name : undefined);

const TOKEN_ERRORS: Record<string, 'unknown' | 'closed'> = {
  InvalidToken: 'unknown',
  TaskDoesNotExist: 'unknown',
  TaskTimedOut: 'closed',
};

export class SfnOrchestrator implements Orchestrator {
  readonly #client: SFNClient;
  readonly #roleArn: string;
  readonly #logging: LoggingConfiguration | undefined;
  readonly #tracing: TracingConfiguration | undefined;

  constructor(options: SfnOrchestratorOptions) {
    this.#client = options.client;
    this.#roleArn = options.roleArn;
    this.#logging = options.loggingConfiguration;
    this.#tracing = options.tracingConfiguration;
  }

  async deploy(name: string, definition: AslDefinition): Promise<StateMachineRef> {
    const body = JSON.stringify(definition);
    try {
      const created = await this.#client.send(
        new CreateStateMachineCommand({
          name,
          definition: body,
          roleArn: this.#roleArn,
          type: 'STANDARD',
          loggingConfiguration: this.#logging,
          tracingConfiguration: this.#tracing,
        }),
      );
      return { id: requireArn(created.stateMachineArn) };
    } catch (error) {
      // CreateStateMachine is idempotent for an identical configuration; it
      // throws only when the existing machine differs, which is an update.
      if (errorName(error) !== 'StateMachineAlreadyExists') throw error;
    }
    const arn = await this.#existingArn(name);
    await this.#client.send(
      new UpdateStateMachineCommand({
        stateMachineArn: arn,
        definition: body,
        roleArn: this.#roleArn,
        loggingConfiguration: this.#logging,
        tracingConfiguration: this.#tracing,
        publish: true,
      }),
    );
    return { id: arn };
  }

  async start(stateMachine: StateMachineRef, executionId: string): Promise<void> {
    try {
      await this.#client.send(
        new StartExecutionCommand({
          stateMachineArn: stateMachine.id,
          name: executionId,
          input: JSON.stringify({ executionId }),
        }),
      );
    } catch (error) {
      // Same name and same input (the input is derived from the name): this
      // execution was started before, running or not. Starting twice starts once.
      if (errorName(error) === 'ExecutionAlreadyExists') return;
      throw mapMissing(error);
    }
  }

  async stop(stateMachine: StateMachineRef, executionId: string, cause: string): Promise<void> {
    try {
      await this.#client.send(
        new StopExecutionCommand({ executionArn: executionArn(stateMachine.id, executionId), cause }),
      );
    } catch (error) {
      // StopExecution of an execution that already ended succeeds (nothing to
      // ignore); an execution that never existed is a `not-found`.
      throw mapMissing(error);
    }
  }

  async redrive(stateMachine: StateMachineRef, executionId: string): Promise<void> {
    try {
      await this.#client.send(
        new RedriveExecutionCommand({ executionArn: executionArn(stateMachine.id, executionId) }),
      );
    } catch (error) {
      if (errorName(error) === 'ExecutionNotRedrivable') throw conflict(messageOf(error));
      throw mapMissing(error);
    }
  }

  async sendTaskSuccess(token: string, output: unknown): Promise<void> {
    await tokenCall(() =>
      this.#client.send(
        new SendTaskSuccessCommand({ taskToken: token, output: JSON.stringify(output ?? null) }),
      ),
    );
  }

  async sendTaskFailure(token: string, error: string, cause: string): Promise<void> {
    await tokenCall(() => this.#client.send(new SendTaskFailureCommand({ taskToken: token, error, cause })));
  }

  async sendTaskHeartbeat(token: string): Promise<void> {
    await tokenCall(() => this.#client.send(new SendTaskHeartbeatCommand({ taskToken: token })));
  }

  /**
   * The ARN of the existing machine called `name`, built from the role's
   * partition and account and the client's region (state machines live in
   * the account of their role here).
   */
  async #existingArn(name: string): Promise<string> {
    const [, partition, , , account] = this.#roleArn.split(':');
    const region = await this.#client.config.region();
    return `arn:${partition || 'aws'}:states:${region}:${account ?? ''}:stateMachine:${name}`;
  }
}

async function tokenCall(send: () => Promise<unknown>): Promise<void> {
  try {
    await send();
  } catch (error) {
    const reason = TOKEN_ERRORS[errorName(error) ?? ''];
    if (reason) throw new TaskTokenNotFound(reason, messageOf(error) || undefined);
    // An output over 256 KiB or a cause over 32,768 characters: the caller's input, not a fault.
    if (errorName(error) === 'InvalidOutput' || errorName(error) === 'ValidationException') {
      throw validationFailed(`Step Functions refused the task result: ${messageOf(error)}`);
    }
    throw error;
  }
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

function mapMissing(error: unknown): unknown {
  const name = errorName(error);
  if (name === 'ExecutionDoesNotExist' || name === 'StateMachineDoesNotExist')
    return notFound(messageOf(error));
  return error;
}

function requireArn(arn: string | undefined): string {
  if (!arn) throw new Error('CreateStateMachine returned no stateMachineArn');
  return arn;
}
