import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { type LocalRuntime, startLocalRuntime } from '../../dev-server/runtime.ts';
import { ephemeralSettings } from '../../dev-server/settings.ts';
import { standInCredentials } from '../../dev-server/stand-ins.ts';
import { rillSeedDescriptor, until } from '../support/poll.ts';

/**
 * Rill Flow's trigger family against the local runtime: a real every-minute
 * cron trigger (this file waits for wall-clock minute boundaries, so it runs
 * up to about two minutes), an S3 trigger fed by an SDK upload, and the
 * family's refusals.
 */

type Json = Record<string, unknown>;

let runtime: LocalRuntime;

async function call(method: string, path: string, body?: string, contentType = 'application/json') {
  const response = await fetch(`${runtime.apiUrl}${path}`, {
    method,
    headers: { 'content-type': contentType },
    ...(body === undefined ? {} : { body }),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : {}) as Json };
}

const executionIds = async (descriptorId: string): Promise<string[]> =>
  (await call('GET', `/flow/get_execution_ids.json?service_id=${descriptorId}`)).body
    .execution_ids as string[];

const addTrigger = (query: string, body: Json | string) =>
  call(
    'POST',
    `/flow/trigger/add_trigger.json?${query}`,
    typeof body === 'string' ? body : JSON.stringify(body),
  );

describe('Rill Flow trigger family', () => {
  before(async () => {
    runtime = await startLocalRuntime(ephemeralSettings());
    const added = await call(
      'POST',
      '/flow/bg/manage/descriptor/add_descriptor.json?business_id=demoFlowTest&feature_name=demoTest&alias=release',
      rillSeedDescriptor(runtime.apiUrl),
      'text/plain',
    );
    assert.equal(added.status, 200, JSON.stringify(added.body));
  });
  after(async () => {
    await runtime.stop();
  });

  it('runs a cron trigger every minute on the minute, lists it, and stops after cancel_trigger', async () => {
    const added = await addTrigger('type=cron&descriptor_id=demoFlowTest:demoTest', {
      cron: '0 * * * * *',
      context: { left: 1000, right: 24 },
    });
    assert.deepEqual(added.body, { code: 0, data: { task_id: '1' } });
    const tasks = await call('GET', '/flow/trigger/get_trigger_tasks.json?type=cron');
    assert.deepEqual(tasks.body, {
      code: 0,
      data: {
        '1': {
          cron: '0 * * * * *',
          timezone: 'UTC',
          context: { left: 1000, right: 24 },
          descriptor_id: 'demoFlowTest:demoTest',
        },
      },
    });

    const [executionId] = await until(
      'the next minute boundary to start a run',
      async () => {
        const ids = await executionIds('demoFlowTest:demoTest');
        return ids.length > 0 ? ids : undefined;
      },
      75_000,
    );
    assert.match(String(executionId), /^demoFlowTest:demoTest_c_[0-9a-f-]{36}$/);
    const ret = await until(
      'the scheduled run to end',
      async () => {
        const got = await call(
          'GET',
          `/flow/get.json?execution_id=${encodeURIComponent(String(executionId))}`,
        );
        const status = (got.body.ret as Json).dag_status;
        return status === 'RUNNING' || status === 'NOT_STARTED' ? undefined : (got.body.ret as Json);
      },
      15_000,
    );
    assert.equal(ret.dag_status, 'SUCCEED');
    const context = await call(
      'GET',
      `/flow/get_context.json?execution_id=${encodeURIComponent(String(executionId))}`,
    );
    assert.equal((context.body.context as Json).result_number, 1024);
    // On the minute: the engine's view (Rill's tenant) names the scheduled instant it ran for.
    const engineRuns = await fetch(`${runtime.apiUrl}/v1/executions?limit=10`, {
      headers: { 'x-sluice-tenant': 'rill-flow' },
    }).then((response) => response.json() as Promise<{ items: Json[] }>);
    const scheduled = engineRuns.items.filter((run) => (run.trigger as Json | undefined)?.id === '1');
    assert.equal(scheduled.length, 1);
    const firedFor = String(((scheduled[0]?.trigger ?? {}) as Json).firedFor);
    assert.match(firedFor, /T\d{2}:\d{2}:00\.000Z$/);
    console.log(
      `cron trigger: run for ${firedFor} started ${Date.parse(String(scheduled[0]?.startedAt)) - Date.parse(firedFor)} ms later`,
    );

    const cancelled = await call('POST', '/flow/trigger/cancel_trigger.json?type=cron&task_id=1');
    assert.deepEqual(cancelled.body, { code: 0 });
    assert.deepEqual((await call('GET', '/flow/trigger/get_trigger_tasks.json?type=cron')).body, {
      code: 0,
      data: {},
    });
    // Past the next minute boundary: nothing more started.
    const nextMinute = Math.ceil(Date.now() / 60_000) * 60_000;
    await new Promise((resolve) => setTimeout(resolve, nextMinute - Date.now() + 3_000));
    assert.deepEqual(await executionIds('demoFlowTest:demoTest'), [executionId]);
    const again = await call('POST', '/flow/trigger/cancel_trigger.json?type=cron&task_id=1');
    assert.deepEqual(again.body, { code: -1, message: 'cron trigger task 1 does not exist' });
  });

  it('starts the descriptor once per upload under an s3 trigger’s prefix, the object in its context', async () => {
    const added = await addTrigger('type=s3&descriptor_id=demoFlowTest:demoTest', {
      prefix: 'rill/in/',
      suffix: '.json',
      context: { left: 1, right: 2 },
    });
    assert.equal(added.body.code, 0, JSON.stringify(added.body));
    const taskId = String((added.body.data as Json).task_id);
    const before = await executionIds('demoFlowTest:demoTest');
    const s3 = new S3Client({
      region: 'us-east-1',
      endpoint: runtime.s3Endpoint,
      forcePathStyle: true,
      credentials: standInCredentials,
    });
    try {
      await s3.send(new PutObjectCommand({ Bucket: 'sluice-files', Key: 'rill/in/订单 1.json', Body: '{}' }));
    } finally {
      s3.destroy();
    }
    const started = await until(
      'the upload to submit the descriptor',
      async () => {
        const ids = (await executionIds('demoFlowTest:demoTest')).filter((id) => !before.includes(id));
        return ids.length > 0 ? ids : undefined;
      },
      20_000,
    );
    assert.equal(started.length, 1);
    // Its id is listed a moment before its run (and context) exists: poll as a client would.
    const object = await until(
      'the started execution’s context',
      async () => {
        const got = await call(
          'GET',
          `/flow/get_context.json?execution_id=${encodeURIComponent(String(started[0]))}`,
        );
        return ((got.body.context as Json | undefined)?.s3 as Json | undefined) ?? undefined;
      },
      10_000,
    );
    assert.equal(object.key, 'rill/in/订单 1.json');
    assert.equal(object.bucket, 'sluice-files');
    const tasks = await call('GET', '/flow/trigger/get_trigger_tasks.json?type=s3');
    assert.deepEqual((tasks.body.data as Record<string, Json>)[taskId]?.prefix, 'rill/in/');
    assert.deepEqual(
      (await call('POST', `/flow/trigger/cancel_trigger.json?type=s3&task_id=${taskId}`)).body,
      { code: 0 },
    );
  });

  it('answers bad trigger requests in the family’s shapes and adds nothing', async () => {
    const refusals: Array<[string, Json | string, RegExp]> = [
      [
        'type=cron&descriptor_id=demoFlowTest:demoTest',
        { cron: '*/5 * * * * *' },
        /more often than once a minute/,
      ],
      ['type=cron&descriptor_id=demoFlowTest:demoTest', { cron: '0 61 * * * *' }, /Invalid cron expression/],
      ['type=cron&descriptor_id=demoFlowTest:demoTest', { context: {} }, /cron is required/],
      ['type=cron&descriptor_id=nobody:nothing', { cron: '0 * * * * *' }, /nobody:nothing does not exist/],
      ['type=s3&descriptor_id=demoFlowTest:demoTest', { prefix: '' }, /prefix is empty/],
    ];
    for (const [query, body, message] of refusals) {
      const refused = await addTrigger(query, body);
      assert.equal(refused.status, 200);
      assert.equal(refused.body.code, -1, JSON.stringify(refused.body));
      assert.match(String(refused.body.err_msg), message);
    }
    // Parameters Rill Flow's binding refuses: 422 with ERROR_DATA_FORMAT.
    for (const query of [
      'descriptor_id=demoFlowTest:demoTest',
      'type=kafka&descriptor_id=demoFlowTest:demoTest',
    ]) {
      const refused = await addTrigger(query, { cron: '0 * * * * *' });
      assert.equal(refused.status, 422, query);
      assert.equal(refused.body.error_code, 30109);
      assert.match(String(refused.body.error), /type/);
    }
    const broken = await addTrigger('type=cron&descriptor_id=demoFlowTest:demoTest', '{"cron": ');
    assert.equal(broken.status, 400);
    assert.equal(broken.body.error_code, 30109);
    const unknown = await call('POST', '/flow/trigger/cancel_trigger.json?type=cron&task_id=999');
    assert.deepEqual(unknown.body, { code: -1, message: 'cron trigger task 999 does not exist' });
    for (const type of ['cron', 's3']) {
      const listed = await call('GET', `/flow/trigger/get_trigger_tasks.json?type=${type}`);
      assert.deepEqual(listed.body, { code: 0, data: {} }, type);
    }
  });
});
