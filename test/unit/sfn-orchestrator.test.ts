/**
 * The Step Functions adapter, on the wire. There is no Step Functions
 * stand-in on these machines (Step Functions Local is not obtainable), so the
 * SFN client gets an in-test request handler that records the AWS JSON 1.0
 * requests the real SDK sends and answers the way the service documents it,
 * error shapes included (`{"__type": "…#ExecutionAlreadyExists", "message"}`).
 * This checks the requests the adapter sends and how it reads the answers,
 * not the service itself.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SFNClient, type SFNClientConfig } from '@aws-sdk/client-sfn';
import { executionArn, SfnOrchestrator } from '../../lambdas/adapters/aws/sfn-orchestrator.ts';
import { isDomainError } from '../../lambdas/core/errors.ts';
import { type AslDefinition, TaskTokenNotFound } from '../../lambdas/ports/orchestrator.ts';

const REGION = 'eu-west-1';
const ACCOUNT = '123456789012';
const ROLE = `arn:aws:iam::${ACCOUNT}:role/sluice-state-machines`;
const MACHINE = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:flow-42-v3`;
const LOG_GROUP = `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws/vendedlogs/states/sluice:*`;

interface Sent {
  operation: string;
  body: Record<string, unknown>;
  headers: Record<string, string>;
}

type Answer = { status: number; body: Record<string, unknown> };

/** A service error as Step Functions sends it. */
const serviceError = (type: string, message: string): Answer => ({
  status: 400,
  body: { __type: `com.amazonaws.swf.service.v2.model#${type}`, message },
});

interface WireRequest {
  method: string;
  hostname: string;
  path: string;
  headers: Record<string, string>;
  body?: unknown;
}

/** A client whose HTTP layer is `answer`; every request is recorded in `sent`. */
function wire(answer: (operation: string, body: Record<string, unknown>) => Answer) {
  const sent: Sent[] = [];
  const requestHandler = {
    async handle(request: WireRequest) {
      assert.equal(request.method, 'POST');
      assert.equal(request.hostname, `states.${REGION}.amazonaws.com`);
      assert.equal(request.path, '/');
      assert.equal(request.headers['content-type'], 'application/x-amz-json-1.0');
      const target = request.headers['x-amz-target'] ?? '';
      assert.match(target, /^AWSStepFunctions\./);
      const text =
        typeof request.body === 'string'
          ? request.body
          : new TextDecoder().decode(request.body as Uint8Array);
      const body = JSON.parse(text) as Record<string, unknown>;
      const operation = target.slice('AWSStepFunctions.'.length);
      sent.push({ operation, body, headers: request.headers });
      const { status, body: reply } = answer(operation, body);
      return {
        response: {
          statusCode: status,
          headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': 'test-request' },
          body: new TextEncoder().encode(JSON.stringify(reply)),
        },
      };
    },
  };
  const client = new SFNClient({
    region: REGION,
    credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' },
    maxAttempts: 1,
    requestHandler: requestHandler as unknown as SFNClientConfig['requestHandler'],
  });
  const orchestrator = new SfnOrchestrator({
    client,
    roleArn: ROLE,
    loggingConfiguration: {
      level: 'ERROR',
      includeExecutionData: false,
      destinations: [{ cloudWatchLogsLogGroup: { logGroupArn: LOG_GROUP } }],
    },
  });
  return { orchestrator, sent };
}

const ok = (body: Record<string, unknown> = {}): Answer => ({ status: 200, body });
const now = () => Date.now() / 1000;

const DEFINITION: AslDefinition = {
  Comment: 'flow 42, version 3',
  StartAt: 'A',
  States: { A: { Type: 'Pass', End: true } },
};

describe('SfnOrchestrator (wire requests, not the service)', () => {
  test('deploy creates a STANDARD state machine with the role and logging configuration', async () => {
    const { orchestrator, sent } = wire(() => ok({ stateMachineArn: MACHINE, creationDate: now() }));
    assert.deepEqual(await orchestrator.deploy('flow-42-v3', DEFINITION), { id: MACHINE });
    assert.deepEqual(sent, [
      {
        operation: 'CreateStateMachine',
        headers: sent[0]?.headers,
        body: {
          name: 'flow-42-v3',
          definition: JSON.stringify(DEFINITION),
          roleArn: ROLE,
          type: 'STANDARD',
          loggingConfiguration: {
            level: 'ERROR',
            includeExecutionData: false,
            destinations: [{ cloudWatchLogsLogGroup: { logGroupArn: LOG_GROUP } }],
          },
        },
      },
    ]);
    assert.match(sent[0]?.headers.authorization ?? '', /^AWS4-HMAC-SHA256 Credential=AKIDTEST\//);
  });

  test('deploy of an existing, different machine updates it and publishes a version', async () => {
    const { orchestrator, sent } = wire((operation) =>
      operation === 'CreateStateMachine'
        ? serviceError('StateMachineAlreadyExists', `State Machine Already Exists: '${MACHINE}'`)
        : ok({ updateDate: now(), revisionId: 'r2', stateMachineVersionArn: `${MACHINE}:2` }),
    );
    assert.deepEqual(await orchestrator.deploy('flow-42-v3', DEFINITION), { id: MACHINE });
    assert.deepEqual(
      sent.map((s) => s.operation),
      ['CreateStateMachine', 'UpdateStateMachine'],
    );
    assert.deepEqual(sent[1]?.body, {
      stateMachineArn: MACHINE,
      definition: JSON.stringify(DEFINITION),
      roleArn: ROLE,
      loggingConfiguration: {
        level: 'ERROR',
        includeExecutionData: false,
        destinations: [{ cloudWatchLogsLogGroup: { logGroupArn: LOG_GROUP } }],
      },
      publish: true,
    });
  });

  test('deploy passes other service errors through (an invalid definition is a fault)', async () => {
    const { orchestrator } = wire(() =>
      serviceError('InvalidDefinition', "Invalid State Machine Definition: 'MISSING_TRANSITION_TARGET'"),
    );
    await assert.rejects(orchestrator.deploy('flow-42-v3', DEFINITION), { name: 'InvalidDefinition' });
  });

  test('start sends StartExecution named by the execution id with input {executionId}', async () => {
    const { orchestrator, sent } = wire(() =>
      ok({ executionArn: executionArn(MACHINE, 'exec-7'), startDate: now() }),
    );
    await orchestrator.start({ id: MACHINE }, 'exec-7');
    assert.deepEqual(
      sent.map((s) => [s.operation, s.body]),
      [['StartExecution', { stateMachineArn: MACHINE, name: 'exec-7', input: '{"executionId":"exec-7"}' }]],
    );
  });

  test('starting the same execution twice is a success (ExecutionAlreadyExists)', async () => {
    const { orchestrator, sent } = wire(() =>
      serviceError(
        'ExecutionAlreadyExists',
        `Execution Already Exists: '${executionArn(MACHINE, 'exec-7')}'`,
      ),
    );
    await orchestrator.start({ id: MACHINE }, 'exec-7');
    assert.equal(sent.length, 1);
  });

  test('starting on a missing state machine is a not-found domain error', async () => {
    const { orchestrator } = wire(() =>
      serviceError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${MACHINE}'`),
    );
    await assert.rejects(orchestrator.start({ id: MACHINE }, 'exec-7'), (error: unknown) => {
      assert.ok(isDomainError(error));
      assert.equal(error.kind, 'not-found');
      return true;
    });
  });

  test('stop sends StopExecution for the derived execution ARN with the cause', async () => {
    const { orchestrator, sent } = wire(() => ok({ stopDate: now() }));
    await orchestrator.stop({ id: MACHINE }, 'exec-7', 'stopped by user');
    assert.deepEqual(
      sent.map((s) => [s.operation, s.body]),
      [
        [
          'StopExecution',
          {
            executionArn: `arn:aws:states:${REGION}:${ACCOUNT}:execution:flow-42-v3:exec-7`,
            cause: 'stopped by user',
          },
        ],
      ],
    );
  });

  test('stop of an unknown execution is a not-found domain error', async () => {
    const { orchestrator } = wire(() => serviceError('ExecutionDoesNotExist', 'Execution Does Not Exist'));
    await assert.rejects(orchestrator.stop({ id: MACHINE }, 'nope', 'x'), { kind: 'not-found' });
  });

  test('redrive sends RedriveExecution; a non-redrivable execution is a conflict', async () => {
    let redrivable = true;
    const { orchestrator, sent } = wire(() =>
      redrivable
        ? ok({ redriveDate: now() })
        : serviceError('ExecutionNotRedrivable', 'Execution is not redrivable: it SUCCEEDED'),
    );
    await orchestrator.redrive({ id: MACHINE }, 'exec-7');
    assert.deepEqual(
      sent.map((s) => [s.operation, s.body]),
      // The SDK fills the idempotency token of RedriveExecution.
      [
        [
          'RedriveExecution',
          { executionArn: executionArn(MACHINE, 'exec-7'), clientToken: sent[0]?.body.clientToken },
        ],
      ],
    );
    assert.match(String(sent[0]?.body.clientToken), /^[0-9a-f-]{36}$/);
    redrivable = false;
    await assert.rejects(orchestrator.redrive({ id: MACHINE }, 'exec-7'), { kind: 'conflict' });
  });

  test('sendTaskSuccess / Failure / Heartbeat map 1:1 (output as a JSON string)', async () => {
    const { orchestrator, sent } = wire(() => ok());
    await orchestrator.sendTaskSuccess('token-1', { skip: false });
    await orchestrator.sendTaskSuccess('token-2', undefined);
    await orchestrator.sendTaskFailure('token-3', 'Sluice.TaskFailed', 'exit code 2');
    await orchestrator.sendTaskHeartbeat('token-4');
    assert.deepEqual(
      sent.map((s) => [s.operation, s.body]),
      [
        ['SendTaskSuccess', { taskToken: 'token-1', output: '{"skip":false}' }],
        ['SendTaskSuccess', { taskToken: 'token-2', output: 'null' }],
        ['SendTaskFailure', { taskToken: 'token-3', error: 'Sluice.TaskFailed', cause: 'exit code 2' }],
        ['SendTaskHeartbeat', { taskToken: 'token-4' }],
      ],
    );
  });

  test('token errors become TaskTokenNotFound (not-found): unknown vs closed', async () => {
    const cases: Array<[string, 'unknown' | 'closed']> = [
      ['InvalidToken', 'unknown'],
      ['TaskDoesNotExist', 'unknown'],
      ['TaskTimedOut', 'closed'],
    ];
    for (const [type, reason] of cases) {
      const { orchestrator } = wire(() =>
        serviceError(type, `${type}: Provided task does not exist anymore`),
      );
      for (const call of [
        () => orchestrator.sendTaskSuccess('t', {}),
        () => orchestrator.sendTaskFailure('t', 'E', 'C'),
        () => orchestrator.sendTaskHeartbeat('t'),
      ]) {
        await assert.rejects(call(), (error: unknown) => {
          assert.ok(error instanceof TaskTokenNotFound, `${type} → ${String(error)}`);
          assert.equal(error.kind, 'not-found');
          assert.equal(error.reason, reason);
          return true;
        });
      }
    }
  });

  test('an output Step Functions refuses (over 256 KiB) is the caller’s validation error', async () => {
    const { orchestrator } = wire(() => serviceError('InvalidOutput', 'Invalid Output'));
    await assert.rejects(orchestrator.sendTaskSuccess('t', {}), (error) => {
      assert.ok(isDomainError(error));
      assert.equal(error.kind, 'validation');
      assert.match(error.message, /refused the task result/);
      return true;
    });
  });

  test('other errors of token calls pass through', async () => {
    const { orchestrator } = wire(() => serviceError('ServiceUnavailable', 'try later'));
    await assert.rejects(orchestrator.sendTaskSuccess('t', {}), { name: 'ServiceUnavailable' });
  });

  test('execution ARNs are derived from the state machine ARN', () => {
    assert.equal(
      executionArn('arn:aws-cn:states:cn-north-1:123456789012:stateMachine:m', 'e-1'),
      'arn:aws-cn:states:cn-north-1:123456789012:execution:m:e-1',
    );
    assert.throws(() => executionArn('arn:aws:lambda:eu-west-1:1:function:f', 'e'));
  });
});
