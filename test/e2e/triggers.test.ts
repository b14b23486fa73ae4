import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { type LocalRuntime, startLocalRuntime } from '../../dev-server/runtime.ts';
import { ephemeralSettings } from '../../dev-server/settings.ts';
import { standInCredentials } from '../../dev-server/stand-ins.ts';
import { handler as s3UploadHandler } from '../../lambdas/handlers/s3-upload.ts';
import { sleep, until } from '../support/poll.ts';

/**
 * Triggers through the local runtime as a user drives them: the native
 * trigger API, uploads with the AWS SDK to the local S3 endpoint, and the
 * in-process scheduler firing the same entry point EventBridge Scheduler
 * invokes on AWS.
 */

type Json = Record<string, unknown>;
interface ExecutionView {
  id: string;
  status: string;
  trigger?: { id: string; firedFor: string };
}

let runtime: LocalRuntime;
let s3: S3Client;
const bucket = 'sluice-files';

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> {
  const response = await fetch(`${runtime.apiUrl}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as Json) : {} };
}

async function createFlow(name: string): Promise<string> {
  const created = await api('POST', '/v1/flows', { name, tasks: [{ name: 'only', kind: 'pass' }] });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return created.body.id as string;
}

async function executionsOf(flowId: string): Promise<ExecutionView[]> {
  const listed = await api('GET', `/v1/executions?flowId=${flowId}&limit=100`);
  assert.equal(listed.status, 200);
  return listed.body.items as ExecutionView[];
}

const createTrigger = (flowId: string, body: Json) => api('POST', `/v1/flows/${flowId}/triggers`, body);

/** An execution is listed a moment before its context is written: poll until `key` is in it. */
const contextOf = (executionId: string, key: string) =>
  until(`the context of ${executionId}`, async () => {
    const got = await api('GET', `/v1/executions/${executionId}/context`);
    return got.status === 200 && key in got.body ? got : undefined;
  });

describe('triggers on the local runtime', () => {
  before(async () => {
    runtime = await startLocalRuntime(ephemeralSettings());
    s3 = new S3Client({
      region: 'us-east-1',
      endpoint: runtime.s3Endpoint,
      forcePathStyle: true,
      credentials: standInCredentials,
    });
  });
  after(async () => {
    s3.destroy();
    await runtime.stop();
  });

  it('starts exactly one execution per upload under a subscribed prefix, carrying the object', async () => {
    const flowId = await createFlow('ingest');
    const created = await createTrigger(flowId, {
      type: 's3',
      prefix: 'incoming/',
      suffix: '.csv',
      parameters: { source: 'drop-zone' },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.bucket, bucket);
    const triggerId = created.body.id as string;

    // A key S3 must URL-encode in its event: a space, a plus and non-ASCII.
    const key = 'incoming/daily report+2026 ü.csv';
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'a,b\n1,2\n' }));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'incoming/notes.txt', Body: 'no' }));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'elsewhere/x.csv', Body: 'no' }));

    const [execution] = await until('the upload to start an execution', async () => {
      const found = await executionsOf(flowId);
      return found.length > 0 ? found : undefined;
    });
    assert.ok(execution);
    assert.deepEqual(execution.trigger, { id: triggerId, firedFor: `s3://${bucket}/${key}` });
    const context = await contextOf(execution.id, 's3');
    assert.equal(context.body.source, 'drop-zone');
    const object = context.body.s3 as Json;
    assert.equal(object.key, key);
    assert.equal(object.bucket, bucket);
    assert.equal(object.size, 8);
    assert.match(String(object.etag), /^[0-9a-f]{32}$/);
    assert.ok(!Number.isNaN(Date.parse(String(object.eventTime))));
    await until('the execution to succeed', async () => {
      const view = (await api('GET', `/v1/executions/${execution.id}`)).body as unknown as ExecutionView;
      return view.status === 'SUCCEEDED' ? view : undefined;
    });
    // The .txt and the other prefix started nothing, and nothing else arrives late.
    await sleep(500);
    assert.equal((await executionsOf(flowId)).length, 1);
  });

  it('starts nothing new when S3 delivers the same event again, and a new upload of the key again', async () => {
    const flowId = await createFlow('redelivered');
    const created = await createTrigger(flowId, { type: 's3', prefix: 'redelivery/' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    // The notification exactly as S3 sends it: the key URL-encoded, spaces as "+".
    const notification = (sequencer: string) => ({
      Records: [
        {
          eventName: 'ObjectCreated:Put',
          eventTime: '2026-11-22T10:00:00.000Z',
          s3: {
            bucket: { name: bucket },
            object: { key: 'redelivery/a+b%2Bc.json', size: 3, eTag: 'abc123', sequencer },
          },
        },
      ],
    });
    const context = {} as never;
    const first = await s3UploadHandler(notification('0055AED6DCD90281E5'), context);
    const again = await s3UploadHandler(notification('0055AED6DCD90281E5'), context);
    assert.equal(first.started.length, 1);
    assert.deepEqual(again.started, first.started);
    const newer = await s3UploadHandler(notification('0055AED6DCD90281E6'), context);
    assert.equal(newer.started.length, 1);
    assert.notEqual(newer.started[0], first.started[0]);
    const executions = await executionsOf(flowId);
    assert.equal(executions.length, 2);
    const stored = await api('GET', `/v1/executions/${first.started[0]}/context`);
    assert.equal((stored.body.s3 as Json).key, 'redelivery/a b+c.json');
  });

  it('fires a schedule at its fire time, and a cancelled one never', async () => {
    // rate() runs are anchored on `start`: the kept schedule's next run is 4 s away, the
    // cancelled one's 9 s (time enough to cancel it even on a loaded machine).
    const now = Date.now();
    const keptStart = new Date(now - 56_000).toISOString();
    const doomedStart = new Date(now - 51_000).toISOString();
    const doomedFires = Date.parse(doomedStart) + 60_000;
    const kept = await createFlow('scheduled');
    const cancelled = await createFlow('cancelled');
    const schedule = (start: string) => ({
      type: 'cron',
      schedule: 'rate(1 minute)',
      start,
      parameters: { from: 'cron' },
    });
    const created = await createTrigger(kept, schedule(keptStart));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const [next] = created.body.nextFireTimes as string[];
    assert.equal(next, new Date(Date.parse(keptStart) + 60_000).toISOString());
    const doomed = await createTrigger(cancelled, schedule(doomedStart));
    assert.equal(doomed.status, 201);
    assert.equal((await api('DELETE', `/v1/triggers/${doomed.body.id}`)).status, 204);
    assert.ok(Date.now() < doomedFires, 'cancelled before its first run was due');
    assert.equal((await api('GET', `/v1/triggers/${doomed.body.id}`)).status, 404);

    const [execution] = await until('the schedule to fire', async () => {
      const found = await executionsOf(kept);
      return found.length > 0 ? found : undefined;
    });
    assert.deepEqual(execution?.trigger, { id: created.body.id, firedFor: next });
    const context = await contextOf(String(execution?.id), 'from');
    assert.equal(context.body.from, 'cron');
    // Recorded right after the run started.
    const lastFiredFor = await until('the trigger to record its firing', async () => {
      const fired = await api('GET', `/v1/triggers/${created.body.id}`);
      return fired.body.lastFiredFor as string | undefined;
    });
    assert.equal(lastFiredFor, next);
    await sleep(doomedFires - Date.now() + 1_500);
    assert.equal((await executionsOf(cancelled)).length, 0);
    assert.equal((await executionsOf(kept)).length, 1);
  });

  it('lists, disables and enables triggers, and a deleted flow takes its triggers along', async () => {
    const flowId = await createFlow('switchable');
    const cron = await createTrigger(flowId, {
      type: 'cron',
      schedule: '0 2 * * *',
      timezone: 'Asia/Shanghai',
    });
    assert.equal(cron.status, 201, JSON.stringify(cron.body));
    assert.equal(cron.body.awsExpression, 'cron(0 2 * * ? *)');
    assert.equal((cron.body.nextFireTimes as string[])[0]?.endsWith('T18:00:00.000Z'), true);
    const upload = await createTrigger(flowId, { type: 's3', prefix: 'switchable/' });
    const listed = await api('GET', `/v1/flows/${flowId}/triggers`);
    assert.deepEqual(
      (listed.body.items as Json[]).map((trigger) => trigger.id),
      [cron.body.id, upload.body.id],
    );
    const off = await api('PATCH', `/v1/triggers/${cron.body.id}`, { enabled: false });
    assert.equal(off.status, 200);
    assert.equal(off.body.enabled, false);
    assert.deepEqual(off.body.nextFireTimes, []);
    const on = await api('PATCH', `/v1/triggers/${cron.body.id}`, { enabled: true });
    assert.equal((on.body.nextFireTimes as string[]).length, 3);
    // Another tenant sees none of it.
    const foreign = await fetch(`${runtime.apiUrl}/v1/triggers/${cron.body.id}`, {
      headers: { 'x-sluice-tenant': 'someone-else' },
    });
    assert.equal(foreign.status, 404);

    assert.equal((await api('DELETE', `/v1/flows/${flowId}`)).status, 204);
    assert.equal((await api('GET', `/v1/triggers/${cron.body.id}`)).status, 404);
    assert.equal((await api('GET', `/v1/triggers/${upload.body.id}`)).status, 404);
    // Its prefix is free again.
    const other = await createFlow('successor');
    assert.equal((await createTrigger(other, { type: 's3', prefix: 'switchable/' })).status, 201);
  });

  it('refuses bad triggers with a message naming the problem, and stores none of them', async () => {
    const flowId = await createFlow('refusals');
    const taken = await createTrigger(flowId, { type: 's3', prefix: 'refusals/in/' });
    assert.equal(taken.status, 201);
    const cases: Array<[Json, RegExp]> = [
      [{ type: 'cron', schedule: '*/10 * * * * *' }, /more often than once a minute/],
      [{ type: 'cron', schedule: 'rate(30 seconds)' }, /sub-minute/],
      [{ type: 'cron', schedule: '0 2 * *' }, /needs 5 .* fields, got 4/],
      [{ type: 'cron', schedule: '0 2 * * *', timezone: 'Mars/Olympus' }, /Unknown time zone/],
      [{ type: 's3', prefix: '' }, /prefix is empty/],
      [{ type: 's3', prefix: 'executions/x/' }, /where Sluice keeps its own objects/],
      [{ type: 's3', prefix: 'refusals/' }, new RegExp(`overlaps trigger ${taken.body.id}`)],
      [{ type: 's3', prefix: 'refusals/in/deeper/', suffix: '.csv' }, /overlaps/],
      [{ type: 'kafka', topic: 'x' }, /type/],
    ];
    for (const [body, message] of cases) {
      const refused = await createTrigger(flowId, body);
      assert.equal(refused.status, 400, `${JSON.stringify(body)} → ${JSON.stringify(refused.body)}`);
      assert.match(JSON.stringify(refused.body), message);
    }
    const listed = await api('GET', `/v1/flows/${flowId}/triggers`);
    assert.equal((listed.body.items as Json[]).length, 1);
    // A suffix that cannot overlap makes a neighbouring filter legal.
    const csv = await createTrigger(flowId, { type: 's3', prefix: 'refusals/', suffix: '.csv' });
    const json = await createTrigger(flowId, { type: 's3', prefix: 'refusals/x', suffix: '.json' });
    assert.equal(csv.status, 400, 'refusals/ with .csv still overlaps refusals/in/ (no suffix)');
    assert.equal(json.status, 201, JSON.stringify(json.body));

    assert.equal((await createTrigger('no-such-flow', { type: 's3', prefix: 'a/' })).status, 404);
    assert.equal((await api('DELETE', '/v1/triggers/no-such-trigger')).status, 404);
    assert.equal((await api('PATCH', '/v1/triggers/no-such-trigger', { enabled: false })).status, 404);
  });
});
