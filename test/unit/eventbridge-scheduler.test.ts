/**
 * The EventBridge Scheduler adapter, on the wire. The real
 * @aws-sdk/client-scheduler gets an in-test request handler that records the
 * REST-JSON requests it sends (method, path, query, body) and answers the way
 * the service documents it, errors included (status code, `x-amzn-errortype`
 * and `{"Message"}`). This checks the requests the adapter sends and how it
 * reads the answers, not the service itself.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SchedulerClient, type SchedulerClientConfig } from '@aws-sdk/client-scheduler';
import {
  EventBridgeScheduler,
  scheduledTimeAttribute,
  scheduleNameOf,
} from '../../lambdas/adapters/aws/eventbridge-scheduler.ts';
import { DomainError } from '../../lambdas/core/errors.ts';

const REGION = 'eu-west-1';
const ACCOUNT = '123456789012';
const GROUP = 'sluice-triggers';
const TARGET = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:sluice-fire-trigger`;
const ROLE = `arn:aws:iam::${ACCOUNT}:role/sluice-scheduler`;
const SCHEDULE_ARN = `arn:aws:scheduler:${REGION}:${ACCOUNT}:schedule/${GROUP}/trigger-42`;

interface Sent {
  operation: string;
  method: string;
  path: string;
  query: Record<string, unknown>;
  body: Record<string, unknown> | undefined;
  headers: Record<string, string>;
}

type Answer = { status: number; errorType?: string; body: Record<string, unknown> };

/** A service error as EventBridge Scheduler sends it (REST-JSON). */
const serviceError = (status: number, type: string, message: string): Answer => ({
  status,
  errorType: type,
  body: { Message: message },
});
const notFound = (name = 'trigger-42') =>
  serviceError(404, 'ResourceNotFoundException', `Schedule ${name} does not exist.`);
const conflictError = () => serviceError(409, 'ConflictException', 'Schedule trigger-42 already exists.');
const ok = (body: Record<string, unknown> = {}): Answer => ({ status: 200, body });

interface WireRequest {
  method: string;
  hostname: string;
  path: string;
  query?: Record<string, unknown>;
  headers: Record<string, string>;
  body?: unknown;
}

const operationOf = (method: string) =>
  ({ PUT: 'UpdateSchedule', POST: 'CreateSchedule', DELETE: 'DeleteSchedule', GET: 'GetSchedule' })[method] ??
  `unknown ${method}`;

/**
 * The adapter's clock in most tests: before the bounds the tests use, so a
 * start date is still ahead and is sent (a past one is left out, see below).
 */
const NOW = Date.parse('2024-12-01T00:00:00.000Z');

/**
 * A client whose HTTP layer is `answer`; every request is recorded in `sent`.
 * The adapter's clock is `now` (NOW unless given; `null` leaves it on Date.now()).
 */
function wire(answer: (operation: string, sent: Sent) => Answer, now: number | null = NOW) {
  const sent: Sent[] = [];
  const requestHandler = {
    async handle(request: WireRequest) {
      assert.equal(request.hostname, `scheduler.${REGION}.amazonaws.com`);
      const text =
        request.body === undefined
          ? ''
          : typeof request.body === 'string'
            ? request.body
            : new TextDecoder().decode(request.body as Uint8Array);
      const operation = operationOf(request.method);
      const record: Sent = {
        operation,
        method: request.method,
        path: request.path,
        query: { ...(request.query ?? {}) },
        body: text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>),
        headers: request.headers,
      };
      sent.push(record);
      const { status, errorType, body } = answer(operation, record);
      return {
        response: {
          statusCode: status,
          headers: {
            'content-type': 'application/json',
            'x-amzn-requestid': 'test-request',
            ...(errorType ? { 'x-amzn-errortype': errorType } : {}),
          },
          body: new TextEncoder().encode(JSON.stringify(body)),
        },
      };
    },
  };
  const client = new SchedulerClient({
    region: REGION,
    credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' },
    maxAttempts: 1,
    requestHandler: requestHandler as unknown as SchedulerClientConfig['requestHandler'],
  });
  const scheduler = new EventBridgeScheduler({
    client,
    groupName: GROUP,
    targetArn: TARGET,
    roleArn: ROLE,
    ...(now === null ? {} : { now: () => now }),
  });
  return { scheduler, sent };
}

/** The body put() must send, whichever operation carries it (the Name travels in the path). */
function definition(extra: Record<string, unknown>) {
  return {
    GroupName: GROUP,
    ScheduleExpression: 'cron(0 2 ? * 2-6 *)',
    ScheduleExpressionTimezone: 'Asia/Shanghai',
    State: 'ENABLED',
    FlexibleTimeWindow: { Mode: 'OFF' },
    Description: 'Sluice cron trigger 42',
    Target: {
      Arn: TARGET,
      RoleArn: ROLE,
      Input: '{"triggerId":"42","scheduledTime":"<aws.scheduler.scheduled-time>"}',
      RetryPolicy: { MaximumEventAgeInSeconds: 86_400, MaximumRetryAttempts: 185 },
    },
    ...extra,
  };
}

const ENTRY = {
  triggerId: '42',
  expression: 'cron(0 2 ? * 2-6 *)',
  timezone: 'Asia/Shanghai',
  enabled: true,
};

/** The body without the SDK's generated idempotency token (checked separately). */
const withoutToken = (body: Record<string, unknown> | undefined) => {
  const { ClientToken, ...rest } = body ?? {};
  assert.equal(typeof ClientToken, 'string', 'the SDK fills in a ClientToken');
  return rest;
};

describe('EventBridgeScheduler (wire requests, not the service)', () => {
  test('names a schedule after its trigger and keeps the scheduled-time placeholder literal', () => {
    assert.equal(
      scheduleNameOf('0f8fad5b-d9cb-469f-a165-70867728950e'),
      'trigger-0f8fad5b-d9cb-469f-a165-70867728950e',
    );
    assert.equal(scheduledTimeAttribute, '<aws.scheduler.scheduled-time>');
  });

  test('put() of an existing schedule (start still ahead) is one UpdateSchedule carrying the whole definition', async () => {
    const { scheduler, sent } = wire(() => ok({ ScheduleArn: SCHEDULE_ARN }));
    await scheduler.put({
      ...ENTRY,
      start: '2025-01-01T00:00:00.000Z',
      end: '2026-01-01T00:00:00.000Z',
    });
    assert.deepEqual(
      sent.map((s) => [s.operation, s.method, s.path]),
      [['UpdateSchedule', 'PUT', '/schedules/trigger-42']],
    );
    assert.deepEqual(
      withoutToken(sent[0]?.body),
      definition({
        // REST-JSON timestamps are epoch seconds.
        StartDate: Date.parse('2025-01-01T00:00:00.000Z') / 1000,
        EndDate: Date.parse('2026-01-01T00:00:00.000Z') / 1000,
      }),
    );
    const target = sent[0]?.body?.Target as { Input?: string } | undefined;
    const input = JSON.parse(target?.Input ?? 'null');
    assert.deepEqual(input, { triggerId: '42', scheduledTime: '<aws.scheduler.scheduled-time>' });
    assert.match(
      sent[0]?.headers.authorization ?? '',
      /^AWS4-HMAC-SHA256 Credential=AKIDTEST\/\d{8}\/eu-west-1\/scheduler\//,
    );
  });

  test('put() of a disabled entry without bounds sends State DISABLED and no dates', async () => {
    const { scheduler, sent } = wire(() => ok({ ScheduleArn: SCHEDULE_ARN }));
    await scheduler.put({ ...ENTRY, expression: 'rate(5 minutes)', timezone: 'UTC', enabled: false });
    assert.equal(sent.length, 1);
    const body = withoutToken(sent[0]?.body);
    assert.equal(body.State, 'DISABLED');
    assert.equal(body.ScheduleExpression, 'rate(5 minutes)');
    assert.equal(body.ScheduleExpressionTimezone, 'UTC');
    assert.ok(!('StartDate' in body) && !('EndDate' in body), 'no bounds are sent for an unbounded entry');
  });

  test('put() sends StartDate only while it is ahead of the clock; EndDate is sent as given', async () => {
    // EventBridge Scheduler refuses a StartDate more than 5 minutes in the past.
    const at = Date.parse('2025-01-01T00:00:00.000Z');
    const bodyFor = async (start: string) => {
      const { scheduler, sent } = wire(() => ok({ ScheduleArn: SCHEDULE_ARN }), at);
      await scheduler.put({ ...ENTRY, start, end: '2026-01-01T00:00:00.000Z' });
      assert.equal(sent.length, 1);
      return withoutToken(sent[0]?.body);
    };
    const end = { EndDate: Date.parse('2026-01-01T00:00:00.000Z') / 1000 };

    // Long past, one millisecond past, and exactly now: no StartDate.
    for (const start of [
      '2024-06-01T00:00:00.000Z',
      '2024-12-31T23:59:59.999Z',
      '2025-01-01T00:00:00.000Z',
    ]) {
      assert.deepEqual(await bodyFor(start), definition(end), `no StartDate for ${start}`);
    }
    // One millisecond ahead, and a day ahead: sent, in epoch seconds.
    assert.deepEqual(
      await bodyFor('2025-01-01T00:00:00.001Z'),
      definition({ StartDate: Date.parse('2025-01-01T00:00:00.001Z') / 1000, ...end }),
    );
    assert.deepEqual(
      await bodyFor('2025-01-02T00:00:00.000Z'),
      definition({ StartDate: Date.parse('2025-01-02T00:00:00.000Z') / 1000, ...end }),
    );
  });

  test('put() of an entry whose end has passed keeps the schedule DISABLED and sends no past EndDate', async () => {
    const { scheduler, sent } = wire(() => ok({ ScheduleArn: SCHEDULE_ARN }));
    await scheduler.put({ ...ENTRY, end: new Date(NOW).toISOString(), enabled: true });
    const body = withoutToken(sent[0]?.body);
    assert.equal(body.State, 'DISABLED');
    assert.ok(!('EndDate' in body));
    await scheduler.put({ ...ENTRY, end: new Date(NOW + 1).toISOString(), enabled: true });
    const open = withoutToken(sent[1]?.body);
    assert.equal(open.State, 'ENABLED');
    assert.equal(open.EndDate, (NOW + 1) / 1000);
  });

  test('put() without an injected clock compares the start with Date.now()', async () => {
    const { scheduler, sent } = wire(() => ok({ ScheduleArn: SCHEDULE_ARN }), null);
    await scheduler.put({ ...ENTRY, start: '2000-01-01T00:00:00.000Z' });
    await scheduler.put({ ...ENTRY, start: '2999-01-01T00:00:00.000Z' });
    assert.deepEqual(withoutToken(sent[0]?.body), definition({}));
    assert.deepEqual(
      withoutToken(sent[1]?.body),
      definition({ StartDate: Date.parse('2999-01-01T00:00:00.000Z') / 1000 }),
    );
  });

  test('put() of a new schedule (start still ahead): UpdateSchedule answers ResourceNotFound, so it is created with the same input', async () => {
    const { scheduler, sent } = wire((operation) =>
      operation === 'UpdateSchedule' ? notFound() : ok({ ScheduleArn: SCHEDULE_ARN }),
    );
    await scheduler.put({ ...ENTRY, start: '2025-01-01T00:00:00.000Z' });
    assert.deepEqual(
      sent.map((s) => [s.operation, s.method, s.path]),
      [
        ['UpdateSchedule', 'PUT', '/schedules/trigger-42'],
        ['CreateSchedule', 'POST', '/schedules/trigger-42'],
      ],
    );
    const expected = definition({ StartDate: Date.parse('2025-01-01T00:00:00.000Z') / 1000 });
    assert.deepEqual(withoutToken(sent[0]?.body), expected);
    assert.deepEqual(withoutToken(sent[1]?.body), expected);
  });

  test('put() racing another creator: CreateSchedule answers Conflict, so it updates again', async () => {
    let updates = 0;
    const { scheduler, sent } = wire((operation) => {
      if (operation === 'UpdateSchedule') {
        updates += 1;
        return updates === 1 ? notFound() : ok({ ScheduleArn: SCHEDULE_ARN });
      }
      return conflictError();
    });
    await scheduler.put(ENTRY);
    assert.deepEqual(
      sent.map((s) => s.operation),
      ['UpdateSchedule', 'CreateSchedule', 'UpdateSchedule'],
    );
    for (const request of sent) assert.deepEqual(withoutToken(request.body), definition({}));
  });

  test('put() answers what AWS refuses as invalid with a validation error, passes other errors through, and does not try to create after them', async () => {
    const { scheduler, sent } = wire(() =>
      serviceError(400, 'ValidationException', 'Invalid Schedule Expression cron(0 2 * * * *).'),
    );
    await assert.rejects(scheduler.put(ENTRY), (error: unknown) => {
      assert.ok(error instanceof DomainError);
      assert.equal(error.kind, 'validation');
      assert.match(error.message, /EventBridge Scheduler refused the schedule: Invalid Schedule Expression/);
      return true;
    });
    assert.deepEqual(
      sent.map((s) => s.operation),
      ['UpdateSchedule'],
    );

    const refused = wire((operation) =>
      operation === 'UpdateSchedule'
        ? notFound()
        : serviceError(402, 'ServiceQuotaExceededException', 'Too many schedules.'),
    );
    await assert.rejects(refused.scheduler.put(ENTRY), { name: 'ServiceQuotaExceededException' });
    assert.deepEqual(
      refused.sent.map((s) => s.operation),
      ['UpdateSchedule', 'CreateSchedule'],
    );
  });

  test('remove() sends DeleteSchedule with the group as a query parameter', async () => {
    const { scheduler, sent } = wire(() => ok());
    await scheduler.remove('42');
    assert.equal(sent.length, 1);
    assert.equal(sent[0]?.operation, 'DeleteSchedule');
    assert.equal(sent[0]?.method, 'DELETE');
    assert.equal(sent[0]?.path, '/schedules/trigger-42');
    assert.equal(sent[0]?.query.groupName, GROUP);
    assert.equal(typeof sent[0]?.query.clientToken, 'string');
  });

  test('remove() of a schedule that does not exist is not an error', async () => {
    const { scheduler, sent } = wire(() => notFound());
    await scheduler.remove('42');
    assert.deepEqual(
      sent.map((s) => s.operation),
      ['DeleteSchedule'],
    );
  });

  test('remove() passes other errors through', async () => {
    const throttled = wire(() => serviceError(429, 'ThrottlingException', 'Rate exceeded.'));
    await assert.rejects(throttled.scheduler.remove('42'), {
      name: 'ThrottlingException',
      message: 'Rate exceeded.',
    });
    const conflicted = wire(() => conflictError());
    await assert.rejects(conflicted.scheduler.remove('42'), { name: 'ConflictException' });
  });
});
