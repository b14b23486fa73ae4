import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ExecutionService } from '../../lambdas/core/engine/executions.ts';
import { FlowService } from '../../lambdas/core/engine/flows.ts';
import type { ExecutionRecord } from '../../lambdas/core/engine/records.ts';
import { DomainError } from '../../lambdas/core/errors.ts';
import {
  type NewTrigger,
  nextFireTimes,
  scheduleOf,
  TriggerService,
  type UploadedObject,
} from '../../lambdas/core/triggers/service.ts';
import type { Orchestrator } from '../../lambdas/ports/orchestrator.ts';
import type { ScheduleEntry, Scheduler } from '../../lambdas/ports/scheduler.ts';
import { startEngineStores } from '../support/engine-stores.ts';

/**
 * Triggers on real stand-in stores (dynalite, s3rver), a scripted
 * orchestrator and a recording scheduler: what is stored, what is scheduled,
 * and how many executions a firing or an upload starts.
 */

class ScriptedOrchestrator implements Orchestrator {
  started: string[] = [];
  async deploy(name: string) {
    return { id: `arn:aws:states:local:0:stateMachine:${name}` };
  }
  async start(_machine: unknown, executionId: string) {
    this.started.push(executionId);
  }
  async stop() {}
  async redrive() {}
  async sendTaskSuccess() {}
  async sendTaskFailure() {}
  async sendTaskHeartbeat() {}
}

/** The Scheduler port as a record of calls; `failPut` makes put() refuse (`failPutFor`: for those triggers). */
class RecordingScheduler implements Scheduler {
  puts: ScheduleEntry[] = [];
  removed: string[] = [];
  failedPuts = 0;
  failPut = false;
  failPutFor = new Set<string>();
  async put(entry: ScheduleEntry) {
    if (this.failPut || this.failPutFor.has(entry.triggerId)) {
      this.failedPuts += 1;
      throw new Error('ServiceQuotaExceededException: too many schedules');
    }
    this.puts.push(entry);
  }
  async remove(triggerId: string) {
    this.removed.push(triggerId);
  }
}

const BUCKET = 'sluice-files';
const TASKS = { tasks: [{ name: 'a', kind: 'pass' }] };

async function setup(name: string) {
  const stores = await startEngineStores(name);
  const records = stores.records;
  const orchestrator = new ScriptedOrchestrator();
  const scheduler = new RecordingScheduler();
  const clock = { now: new Date('2025-03-01T12:00:30.000Z') };
  const executions = new ExecutionService({ records, contexts: stores.contexts, orchestrator });
  const flows = new FlowService({
    records,
    orchestrator,
    compile: () => ({ StartAt: 'x', States: { x: { Type: 'Succeed' } } }),
  });
  const triggers = new TriggerService({
    records,
    executions,
    scheduler,
    bucket: BUCKET,
    now: () => clock.now,
  });
  // As lambdas/composition/engine.ts wires it.
  flows.onDeleting((tenant, flowId) => triggers.cancelAll(tenant, flowId));
  let flowCount = 0;
  const newFlow = async (tenant: string) => {
    flowCount += 1;
    return (await flows.create(tenant, { name: `flow-${flowCount}`, ...TASKS })).id;
  };
  const executionsOf = async (tenant: string, flowId: string): Promise<ExecutionRecord[]> =>
    (await executions.list(tenant, { flowId }, { limit: 100 })).items;
  return {
    stores,
    records,
    orchestrator,
    scheduler,
    clock,
    executions,
    flows,
    triggers,
    newFlow,
    executionsOf,
  };
}

/** Asserts a DomainError of `kind` whose message matches. */
const domainError =
  (kind: DomainError['kind'], message?: RegExp, path?: string) =>
  (error: unknown): boolean => {
    assert.ok(error instanceof DomainError, `expected a DomainError, got ${String(error)}`);
    assert.equal(error.kind, kind);
    if (message) assert.match(error.message, message);
    if (path)
      assert.deepEqual(
        error.issues.map((issue) => issue.path),
        [path],
      );
    return true;
  };

const uploadOf = (key: string, overrides: Partial<UploadedObject> = {}): UploadedObject => ({
  bucket: BUCKET,
  key,
  size: 42,
  etag: '"9b2cf535f27731c974343645a3985328"',
  sequencer: '0055AED6DCD90281E5',
  eventTime: '2025-03-01T12:00:00.000Z',
  ...overrides,
});

describe('trigger service on stand-in stores', () => {
  let env: Awaited<ReturnType<typeof setup>>;
  before(async () => {
    env = await setup('trig');
  });
  after(async () => {
    await env.stores.stop();
  });

  describe('cron triggers', () => {
    it('stores a cron trigger and schedules it with the AWS expression, time zone, bounds and state', async () => {
      const { triggers, scheduler, newFlow } = env;
      const flowId = await newFlow('cron');
      const trigger = await triggers.create({
        tenant: 'cron',
        flowId,
        type: 'cron',
        cron: { expression: ' 0 2 * * 1-5 ', timezone: 'Asia/Shanghai', start: '2025-01-01T00:00:00+08:00' },
        context: { region: 'cn' },
      });
      assert.equal(trigger.starter, 'engine');
      assert.equal(trigger.target, flowId);
      assert.equal(trigger.enabled, true);
      assert.equal(trigger.createdAt, '2025-03-01T12:00:30.000Z');
      assert.deepEqual(trigger.cron, {
        expression: '0 2 * * 1-5',
        awsExpression: 'cron(0 2 ? * 2-6 *)',
        timezone: 'Asia/Shanghai',
        start: '2024-12-31T16:00:00.000Z',
      });
      assert.deepEqual(scheduler.puts.at(-1), {
        triggerId: trigger.id,
        expression: 'cron(0 2 ? * 2-6 *)',
        timezone: 'Asia/Shanghai',
        start: '2024-12-31T16:00:00.000Z',
        enabled: true,
      });
      assert.deepEqual(await triggers.get('cron', trigger.id), trigger);

      const paused = await triggers.create({
        tenant: 'cron',
        flowId,
        type: 'cron',
        cron: { expression: 'rate(5 minutes)' },
        enabled: false,
      });
      // A rate() without a start counts from the trigger's creation, as EventBridge Scheduler does.
      assert.equal(paused.createdAt, '2025-03-01T12:00:30.000Z');
      assert.deepEqual(paused.cron, {
        expression: 'rate(5 minutes)',
        awsExpression: 'rate(5 minutes)',
        timezone: 'UTC',
      });
      assert.deepEqual(scheduler.puts.at(-1), {
        triggerId: paused.id,
        expression: 'rate(5 minutes)',
        timezone: 'UTC',
        start: '2025-03-01T12:00:30.000Z',
        enabled: false,
      });
      assert.deepEqual((await triggers.list('cron')).map((t) => t.id).sort(), [trigger.id, paused.id].sort());
      await assert.rejects(triggers.get('someone-else', trigger.id), domainError('not-found'));
    });

    it('refuses a cron trigger without a schedule, or for a flow of another tenant', async () => {
      const { triggers, newFlow } = env;
      const flowId = await newFlow('cron-bad');
      await assert.rejects(
        triggers.create({ tenant: 'cron-bad', flowId, type: 'cron' }),
        domainError('validation', /schedule expression/, 'cron'),
      );
      await assert.rejects(
        triggers.create({ tenant: 'cron-bad', flowId, type: 'cron', cron: { expression: '* * * * * *' } }),
        domainError('validation', /once a minute/),
      );
      await assert.rejects(
        triggers.create({ tenant: 'other', flowId, type: 'cron', cron: { expression: '0 * * * *' } }),
        domainError('not-found', new RegExp(flowId)),
      );
      assert.deepEqual(await triggers.list('cron-bad'), []);
    });

    it('leaves nothing stored when the scheduler refuses the schedule, so the same id can be created later', async () => {
      const { triggers, scheduler, newFlow } = env;
      const flowId = await newFlow('refused');
      const input: NewTrigger = {
        tenant: 'refused',
        flowId,
        id: 'refused-1',
        type: 'cron',
        cron: { expression: '0 * * * *' },
      };
      scheduler.failPut = true;
      try {
        await assert.rejects(triggers.create(input), /ServiceQuotaExceededException/);
      } finally {
        scheduler.failPut = false;
      }
      assert.equal(scheduler.failedPuts, 1);
      assert.deepEqual(await triggers.list('refused'), []);
      await assert.rejects(triggers.get('refused', 'refused-1'), domainError('not-found'));

      const created = await triggers.create(input);
      assert.equal(created.id, 'refused-1');
      assert.equal(scheduler.puts.at(-1)?.triggerId, 'refused-1');
      assert.deepEqual(
        (await triggers.list('refused')).map((t) => t.id),
        ['refused-1'],
      );
      await assert.rejects(triggers.create(input), domainError('conflict', /refused-1 already exists/));
    });

    it('turns a schedule off and on, and restores the stored flag when the scheduler refuses', async () => {
      const { triggers, scheduler, newFlow } = env;
      const flowId = await newFlow('toggle');
      const trigger = await triggers.create({
        tenant: 'toggle',
        flowId,
        type: 'cron',
        cron: { expression: '15 3 * * *', timezone: 'Europe/Berlin' },
      });
      const before = scheduler.puts.length;

      assert.equal(trigger.enabledAt, undefined, 'created enabled: no enabledAt');
      const off = await triggers.setEnabled('toggle', trigger.id, false);
      assert.equal(off.enabled, false);
      assert.equal(off.enabledAt, undefined, 'turning off sets no enabledAt');
      assert.deepEqual(scheduler.puts.at(-1), {
        triggerId: trigger.id,
        expression: 'cron(15 3 * * ? *)',
        timezone: 'Europe/Berlin',
        enabled: false,
      });
      assert.equal((await triggers.get('toggle', trigger.id)).enabled, false);

      const on = await triggers.setEnabled('toggle', trigger.id, true);
      assert.equal(on.enabled, true);
      assert.equal(on.enabledAt, '2025-03-01T12:00:30.000Z', 'turning on records when');
      assert.deepEqual(await triggers.get('toggle', trigger.id), on);
      assert.equal(scheduler.puts.at(-1)?.enabled, true);
      assert.equal(scheduler.puts.length, before + 2);
      // Enabling what is already on changes nothing stored (the schedule is put again).
      assert.deepEqual(await triggers.setEnabled('toggle', trigger.id, true), on);
      assert.equal(scheduler.puts.length, before + 3);

      scheduler.failPut = true;
      try {
        await assert.rejects(
          triggers.setEnabled('toggle', trigger.id, false),
          /ServiceQuotaExceededException/,
        );
      } finally {
        scheduler.failPut = false;
      }
      assert.deepEqual(await triggers.get('toggle', trigger.id), on, 'the stored flag was put back');
      assert.equal(scheduler.puts.length, before + 3);

      await assert.rejects(triggers.setEnabled('toggle', 'no-such-trigger', false), domainError('not-found'));
    });

    it('cancels a cron trigger: its schedule is removed and the trigger is gone', async () => {
      const { triggers, scheduler, newFlow } = env;
      const flowId = await newFlow('cancel');
      const trigger = await triggers.create({
        tenant: 'cancel',
        flowId,
        type: 'cron',
        cron: { expression: '0 0 * * *' },
      });
      const upload = await triggers.create({
        tenant: 'cancel',
        flowId,
        type: 's3',
        s3: { prefix: 'cancel/' },
      });
      const removedBefore = scheduler.removed.length;

      const cancelled = await triggers.cancel('cancel', trigger.id);
      assert.equal(cancelled.id, trigger.id);
      assert.deepEqual(scheduler.removed.slice(removedBefore), [trigger.id]);
      await assert.rejects(triggers.get('cancel', trigger.id), domainError('not-found'));
      await assert.rejects(triggers.cancel('cancel', trigger.id), domainError('not-found'));

      await triggers.cancel('cancel', upload.id);
      assert.deepEqual(scheduler.removed.slice(removedBefore), [trigger.id], 'an S3 trigger has no schedule');
      assert.deepEqual(await triggers.list('cancel'), []);
    });
  });

  describe('fire', () => {
    it('cancels a trigger whose flow is gone instead of failing at every fire time or upload', async () => {
      const { triggers, records, scheduler, newFlow } = env;
      const flowId = await newFlow('orphan');
      const cron = await triggers.create({
        tenant: 'orphan',
        flowId,
        type: 'cron',
        cron: { expression: '0 * * * *' },
      });
      const upload = await triggers.create({
        tenant: 'orphan',
        flowId,
        type: 's3',
        s3: { prefix: 'orphaned/' },
      });
      // The flow disappears without its hook (a create racing the flow's deletion).
      await records.deleteFlow(flowId);
      const fired = await triggers.fire({ triggerId: cron.id, scheduledTime: '2025-03-01T12:00:00Z' });
      assert.match(String(fired.skipped), /gone; trigger cancelled/);
      assert.ok(scheduler.removed.includes(cron.id));
      await assert.rejects(triggers.get('orphan', cron.id), domainError('not-found'));
      assert.deepEqual(await triggers.objectsCreated([uploadOf('orphaned/a.csv')]), []);
      await assert.rejects(triggers.get('orphan', upload.id), domainError('not-found'));
    });

    it('starts one execution per scheduled time, however often the firing is delivered', async () => {
      const { triggers, newFlow, executionsOf } = env;
      const flowId = await newFlow('fire');
      const trigger = await triggers.create({
        tenant: 'fire',
        flowId,
        type: 'cron',
        cron: { expression: '0 * * * *' },
        context: { greeting: 'hi' },
      });
      const first = await triggers.fire({ triggerId: trigger.id, scheduledTime: '2025-03-01T12:00:00Z' });
      // The same instant, written differently: a redelivery.
      const again = await triggers.fire({ triggerId: trigger.id, scheduledTime: '2025-03-01T12:00:00.000Z' });
      assert.ok(first.executionId);
      assert.equal(first.skipped, undefined);
      assert.equal(again.executionId, first.executionId);

      const runs = await executionsOf('fire', flowId);
      assert.deepEqual(
        runs.map((run) => run.id),
        [first.executionId],
      );
      assert.deepEqual(runs[0]?.trigger, { id: trigger.id, firedFor: '2025-03-01T12:00:00.000Z' });
      assert.deepEqual(runs[0]?.parameters, { greeting: 'hi' });
      assert.equal(runs[0]?.status, 'RUNNING');
      assert.equal((await triggers.get('fire', trigger.id)).lastFiredFor, '2025-03-01T12:00:00.000Z');

      const next = await triggers.fire({ triggerId: trigger.id, scheduledTime: '2025-03-01T13:00:00Z' });
      assert.notEqual(next.executionId, first.executionId);
      // A late delivery of an older firing does not move lastFiredFor back.
      const late = await triggers.fire({ triggerId: trigger.id, scheduledTime: '2025-03-01T11:00:00Z' });
      assert.equal((await triggers.get('fire', trigger.id)).lastFiredFor, '2025-03-01T13:00:00.000Z');
      assert.equal((await executionsOf('fire', flowId)).length, 3);
      assert.equal(new Set([first.executionId, next.executionId, late.executionId]).size, 3);
    });

    it('skips a disabled or unknown trigger and refuses a scheduled time that is not a timestamp', async () => {
      const { triggers, newFlow, executionsOf } = env;
      const flowId = await newFlow('skip');
      const disabled = await triggers.create({
        tenant: 'skip',
        flowId,
        type: 'cron',
        cron: { expression: '0 * * * *' },
        enabled: false,
      });
      const upload = await triggers.create({ tenant: 'skip', flowId, type: 's3', s3: { prefix: 'skip/' } });
      const at = '2025-03-01T12:00:00Z';
      assert.deepEqual(await triggers.fire({ triggerId: disabled.id, scheduledTime: at }), {
        skipped: `trigger ${disabled.id} is disabled`,
      });
      assert.deepEqual(await triggers.fire({ triggerId: 'never-created', scheduledTime: at }), {
        skipped: 'trigger never-created does not exist',
      });
      assert.deepEqual(await triggers.fire({ triggerId: upload.id, scheduledTime: at }), {
        skipped: `trigger ${upload.id} does not exist`,
      });
      await assert.rejects(
        triggers.fire({ triggerId: disabled.id, scheduledTime: 'yesterday at noon' }),
        domainError('validation', /yesterday at noon/, 'scheduledTime'),
      );
      assert.deepEqual(await executionsOf('skip', flowId), []);
      assert.equal((await triggers.get('skip', disabled.id)).lastFiredFor, undefined);
    });
  });

  describe('uploads', () => {
    it('starts the matching trigger once per object version, with the upload in its context', async () => {
      const { triggers, newFlow, executionsOf, executions } = env;
      const flowId = await newFlow('up');
      const trigger = await triggers.create({
        tenant: 'up',
        flowId,
        type: 's3',
        s3: { prefix: 'incoming/', suffix: '.csv' },
        context: { source: 'upload' },
      });
      assert.deepEqual(trigger.s3, { prefix: 'incoming/', suffix: '.csv' });

      const csv = uploadOf('incoming/2025/a.csv');
      const started = await triggers.objectsCreated([
        csv,
        uploadOf('incoming/2025/a.json'),
        uploadOf('elsewhere/a.csv'),
        uploadOf('incoming/b.csv', { bucket: 'another-bucket' }),
      ]);
      assert.equal(started.length, 1);
      const [id] = started;
      const runs = await executionsOf('up', flowId);
      assert.deepEqual(
        runs.map((run) => run.id),
        [id],
      );
      const expectedContext = {
        source: 'upload',
        s3: {
          bucket: BUCKET,
          key: 'incoming/2025/a.csv',
          size: 42,
          etag: '"9b2cf535f27731c974343645a3985328"',
          eventTime: '2025-03-01T12:00:00.000Z',
        },
      };
      assert.deepEqual(runs[0]?.parameters, expectedContext);
      assert.deepEqual(await executions.context('up', id as string), expectedContext);
      assert.deepEqual(runs[0]?.trigger, { id: trigger.id, firedFor: `s3://${BUCKET}/incoming/2025/a.csv` });

      assert.deepEqual(await triggers.objectsCreated([csv]), [id], 'a redelivered event starts nothing new');
      const reuploaded = await triggers.objectsCreated([{ ...csv, sequencer: '0055AED6DCD90281F0' }]);
      assert.equal(reuploaded.length, 1);
      assert.notEqual(reuploaded[0], id, 'the same bytes uploaded again are a new run');
      assert.equal((await executionsOf('up', flowId)).length, 2);

      assert.deepEqual(
        await triggers.objectsCreated([uploadOf('incoming/c.csv', { bucket: 'another' })]),
        [],
      );
    });

    it('ignores a disabled upload trigger', async () => {
      const { triggers, newFlow, executionsOf } = env;
      const flowId = await newFlow('up-off');
      await triggers.create({
        tenant: 'up-off',
        flowId,
        type: 's3',
        s3: { prefix: 'paused/' },
        enabled: false,
      });
      const later = await triggers.create({ tenant: 'up-off', flowId, type: 's3', s3: { prefix: 'later/' } });
      assert.equal((await triggers.objectsCreated([uploadOf('later/x')])).length, 1);
      await triggers.setEnabled('up-off', later.id, false);
      assert.deepEqual(await triggers.objectsCreated([uploadOf('paused/x'), uploadOf('later/y')]), []);
      assert.equal((await executionsOf('up-off', flowId)).length, 1);
    });

    it('refuses overlapping filters, naming the trigger only to its own tenant', async () => {
      const { triggers, newFlow } = env;
      const mine = await newFlow('ov-a');
      const theirs = await newFlow('ov-b');
      const first = await triggers.create({
        tenant: 'ov-a',
        flowId: mine,
        type: 's3',
        s3: { prefix: 'reports/' },
      });

      await assert.rejects(
        triggers.create({ tenant: 'ov-a', flowId: mine, type: 's3', s3: { prefix: 'reports/2025/' } }),
        domainError('validation', new RegExp(`overlaps trigger ${first.id} \\(reports/\\*\\)`), 'prefix'),
      );
      await assert.rejects(
        triggers.create({ tenant: 'ov-a', flowId: mine, type: 's3', s3: { prefix: 'rep', suffix: '.pdf' } }),
        domainError('validation', new RegExp(`overlaps trigger ${first.id}`)),
      );
      await assert.rejects(
        triggers.create({ tenant: 'ov-b', flowId: theirs, type: 's3', s3: { prefix: 'reports/' } }),
        (error: unknown) => {
          domainError('validation', /overlaps an existing trigger/, 'prefix')(error);
          assert.ok(!(error as Error).message.includes(first.id), 'another tenant’s trigger id is not shown');
          return true;
        },
      );

      // Disjoint suffixes under one prefix do not overlap; a shared ending does.
      await triggers.create({
        tenant: 'ov-b',
        flowId: theirs,
        type: 's3',
        s3: { prefix: 'logs/', suffix: '.json' },
      });
      const txt = await triggers.create({
        tenant: 'ov-b',
        flowId: theirs,
        type: 's3',
        s3: { prefix: 'logs/', suffix: '.txt' },
      });
      await assert.rejects(
        triggers.create({
          tenant: 'ov-b',
          flowId: theirs,
          type: 's3',
          s3: { prefix: 'logs/a', suffix: 'a.txt' },
        }),
        domainError('validation', new RegExp(`overlaps trigger ${txt.id}`)),
      );
      assert.equal((await triggers.list('ov-a')).length, 1);
      assert.equal((await triggers.list('ov-b')).length, 2);
    });

    it('refuses an empty prefix and one overlapping the engine’s executions/ objects', async () => {
      const { triggers, newFlow } = env;
      const flowId = await newFlow('reserved');
      for (const prefix of ['', '   ']) {
        await assert.rejects(
          triggers.create({ tenant: 'reserved', flowId, type: 's3', s3: { prefix } }),
          domainError('validation', /prefix is empty/, 'prefix'),
        );
      }
      await assert.rejects(
        triggers.create({ tenant: 'reserved', flowId, type: 's3' }),
        domainError('validation', /needs a key prefix/, 'prefix'),
      );
      for (const prefix of ['executions/', 'executions/abc/', 'exec']) {
        await assert.rejects(
          triggers.create({ tenant: 'reserved', flowId, type: 's3', s3: { prefix } }),
          domainError('validation', /overlaps "executions\/"/, 'prefix'),
        );
      }
      await assert.rejects(
        triggers.create({ tenant: 'reserved', flowId, type: 's3', s3: { prefix: '/uploads/' } }),
        domainError('validation', /leading slash/, 'prefix'),
      );
      assert.deepEqual(await triggers.list('reserved'), []);
    });
  });

  describe('deleting a flow', () => {
    it('cancels its triggers (schedules removed) and leaves other flows’ triggers alone', async () => {
      const { triggers, flows, scheduler, newFlow } = env;
      const doomed = await newFlow('del');
      const kept = await newFlow('del');
      const cron = await triggers.create({
        tenant: 'del',
        flowId: doomed,
        type: 'cron',
        cron: { expression: '0 * * * *' },
      });
      const s3 = await triggers.create({
        tenant: 'del',
        flowId: doomed,
        type: 's3',
        s3: { prefix: 'doomed/' },
      });
      const other = await triggers.create({
        tenant: 'del',
        flowId: kept,
        type: 'cron',
        cron: { expression: '0 * * * *' },
      });
      const removedBefore = scheduler.removed.length;

      await flows.delete('del', doomed);

      // The flow is gone, so listing its triggers is not-found; the tenant's list no longer has them.
      await assert.rejects(triggers.list('del', { flowId: doomed }), domainError('not-found'));
      await assert.rejects(triggers.get('del', cron.id), domainError('not-found'));
      await assert.rejects(triggers.get('del', s3.id), domainError('not-found'));
      assert.deepEqual(scheduler.removed.slice(removedBefore), [cron.id]);
      assert.deepEqual(
        (await triggers.list('del')).map((t) => t.id),
        [other.id],
      );
      // The upload filter is free again.
      const again = await triggers.create({
        tenant: 'del',
        flowId: kept,
        type: 's3',
        s3: { prefix: 'doomed/' },
      });
      assert.equal(again.s3?.prefix, 'doomed/');
    });
  });
});

describe('restoring schedules after a restart', () => {
  let env: Awaited<ReturnType<typeof setup>>;
  let every: string;
  let paused: string;
  let flowId: string;
  before(async () => {
    env = await setup('trigrestore');
    flowId = await env.newFlow('r');
    env.clock.now = new Date('2025-03-01T11:50:10.000Z');
    every = (
      await env.triggers.create({ tenant: 'r', flowId, type: 'cron', cron: { expression: '* * * * *' } })
    ).id;
    paused = (
      await env.triggers.create({
        tenant: 'r',
        flowId,
        type: 'cron',
        cron: { expression: '* * * * *' },
        enabled: false,
      })
    ).id;
    await env.triggers.fire({ triggerId: every, scheduledTime: '2025-03-01T12:00:00Z' });
  });
  after(async () => {
    await env.stores.stop();
  });

  const firedFor = async () =>
    (await env.executionsOf('r', flowId)).map((run) => run.trigger?.firedFor ?? '').sort();

  it('fires the last `catchUp` missed times of an enabled trigger, then puts every schedule back', async () => {
    const { triggers, scheduler, clock } = env;
    clock.now = new Date('2025-03-01T12:10:30.000Z');
    scheduler.puts = [];
    assert.deepEqual(await triggers.restoreSchedules({ catchUp: 3 }), {
      restored: 2,
      caughtUp: 3,
      failures: [],
    });
    assert.deepEqual(await firedFor(), [
      '2025-03-01T12:00:00.000Z',
      '2025-03-01T12:08:00.000Z',
      '2025-03-01T12:09:00.000Z',
      '2025-03-01T12:10:00.000Z',
    ]);
    assert.equal((await triggers.get('r', every)).lastFiredFor, '2025-03-01T12:10:00.000Z');
    assert.equal(
      (await triggers.get('r', paused)).lastFiredFor,
      undefined,
      'a disabled trigger is not caught up',
    );
    assert.deepEqual(
      [...scheduler.puts].sort((a, b) => a.triggerId.localeCompare(b.triggerId)),
      [
        { triggerId: every, expression: 'cron(* * * * ? *)', timezone: 'UTC', enabled: true },
        { triggerId: paused, expression: 'cron(* * * * ? *)', timezone: 'UTC', enabled: false },
      ].sort((a, b) => a.triggerId.localeCompare(b.triggerId)),
    );
  });

  it('fires nothing with catchUp 0, but still puts the schedules back', async () => {
    const { triggers, scheduler, clock } = env;
    clock.now = new Date('2025-03-01T12:20:30.000Z');
    scheduler.puts = [];
    assert.deepEqual(await triggers.restoreSchedules({ catchUp: 0 }), {
      restored: 2,
      caughtUp: 0,
      failures: [],
    });
    assert.deepEqual(await triggers.restoreSchedules(), { restored: 2, caughtUp: 0, failures: [] });
    assert.equal((await firedFor()).length, 4);
    assert.equal(scheduler.puts.length, 4);
    assert.equal((await triggers.get('r', every)).lastFiredFor, '2025-03-01T12:10:00.000Z');
  });

  it('catches up at most MAX_CATCH_UP runs however many are asked for', async () => {
    const { triggers, clock } = env;
    // 15 missed (12:11 … 12:25); at most 10 are replayed, the latest ones.
    clock.now = new Date('2025-03-01T12:25:30.000Z');
    assert.deepEqual(await triggers.restoreSchedules({ catchUp: 50 }), {
      restored: 2,
      caughtUp: 10,
      failures: [],
    });
    const fired = await firedFor();
    assert.equal(fired.length, 14);
    assert.deepEqual(fired.slice(4), [
      '2025-03-01T12:16:00.000Z',
      '2025-03-01T12:17:00.000Z',
      '2025-03-01T12:18:00.000Z',
      '2025-03-01T12:19:00.000Z',
      '2025-03-01T12:20:00.000Z',
      '2025-03-01T12:21:00.000Z',
      '2025-03-01T12:22:00.000Z',
      '2025-03-01T12:23:00.000Z',
      '2025-03-01T12:24:00.000Z',
      '2025-03-01T12:25:00.000Z',
    ]);
  });
});

describe('restoring schedules: one trigger’s failure does not keep the others unscheduled', () => {
  let env: Awaited<ReturnType<typeof setup>>;
  before(async () => {
    env = await setup('trigrestorefail');
  });
  after(async () => {
    await env.stores.stop();
  });

  it('records a failing catch-up and a refused put in `failures`, and still restores every other trigger', async () => {
    const { triggers, scheduler, clock, newFlow, executionsOf } = env;
    const flowId = await newFlow('rf');
    let brokenStarts = 0;
    const startFailure = new Error('the orchestrator refused to start the run');
    triggers.registerStarter('broken', async () => {
      brokenStarts += 1;
      throw startFailure;
    });
    // Created a second apart, so they are restored in this order.
    const create = async (at: string, extra: Partial<NewTrigger> = {}) => {
      clock.now = new Date(at);
      return (
        await triggers.create({
          tenant: 'rf',
          flowId,
          type: 'cron',
          cron: { expression: '* * * * *' },
          ...extra,
        })
      ).id;
    };
    const first = await create('2025-03-01T12:00:01.000Z');
    const broken = await create('2025-03-01T12:00:02.000Z', { starter: 'broken' });
    const middle = await create('2025-03-01T12:00:03.000Z');
    const refused = await create('2025-03-01T12:00:04.000Z');
    const last = await create('2025-03-01T12:00:05.000Z');

    clock.now = new Date('2025-03-01T12:05:30.000Z');
    scheduler.puts = [];
    scheduler.failPutFor = new Set([refused]);
    const putFailuresBefore = scheduler.failedPuts;
    const result = await triggers.restoreSchedules({ catchUp: 2 });

    assert.equal(result.restored, 4, 'every trigger but the refused one is scheduled');
    assert.equal(result.caughtUp, 8, 'two runs each for the four triggers whose runs can start');
    assert.deepEqual(
      result.failures.map((failure) => failure.triggerId),
      [broken, refused],
    );
    assert.equal(result.failures[0]?.error, startFailure);
    assert.match(String(result.failures[1]?.error), /ServiceQuotaExceededException/);
    assert.equal(brokenStarts, 1, 'the broken trigger’s catch-up stops at its first failure');
    assert.equal(scheduler.failedPuts, putFailuresBefore + 1);
    assert.deepEqual(
      scheduler.puts.map((entry) => entry.triggerId),
      [first, broken, middle, last],
      'the broken trigger’s schedule is still put back',
    );

    const byTrigger = new Map<string, string[]>();
    for (const run of await executionsOf('rf', flowId)) {
      const id = run.trigger?.id ?? '';
      byTrigger.set(id, [...(byTrigger.get(id) ?? []), run.trigger?.firedFor ?? ''].sort());
    }
    const lastTwo = ['2025-03-01T12:04:00.000Z', '2025-03-01T12:05:00.000Z'];
    assert.deepEqual(
      Object.fromEntries(byTrigger),
      { [first]: lastTwo, [middle]: lastTwo, [refused]: lastTwo, [last]: lastTwo },
      'a refused put does not undo its catch-up',
    );
    assert.equal((await triggers.get('rf', broken)).lastFiredFor, undefined);
    assert.equal((await triggers.get('rf', refused)).lastFiredFor, '2025-03-01T12:05:00.000Z');

    // Once both are fixed, the next restore catches the broken one up and schedules the refused one.
    triggers.registerStarter('broken', async ({ runKey }) => `broken-fixed:${runKey}`);
    scheduler.failPutFor = new Set();
    scheduler.puts = [];
    assert.deepEqual(await triggers.restoreSchedules({ catchUp: 2 }), {
      restored: 5,
      caughtUp: 2,
      failures: [],
    });
    assert.equal((await triggers.get('rf', broken)).lastFiredFor, '2025-03-01T12:05:00.000Z');
    assert.equal(scheduler.puts.length, 5);
  });
});

describe('restoring schedules: catch-up counts from the latest of creation, last firing and re-enabling', () => {
  let env: Awaited<ReturnType<typeof setup>>;
  before(async () => {
    env = await setup('trigrestoreon');
  });
  after(async () => {
    await env.stores.stop();
  });

  it('replays none of the runs missed while a trigger was off', async () => {
    const { triggers, scheduler, clock, newFlow, executionsOf } = env;
    const flowId = await newFlow('on');
    const firedFor = async () =>
      (await executionsOf('on', flowId)).map((run) => run.trigger?.firedFor ?? '').sort();
    clock.now = new Date('2025-03-01T10:00:10.000Z');
    const id = (
      await triggers.create({ tenant: 'on', flowId, type: 'cron', cron: { expression: '*/5 * * * *' } })
    ).id;
    await triggers.fire({ triggerId: id, scheduledTime: '2025-03-01T10:05:00Z' });
    clock.now = new Date('2025-03-01T10:10:00.000Z');
    await triggers.setEnabled('on', id, false);
    clock.now = new Date('2025-03-01T12:30:20.000Z');
    const on = await triggers.setEnabled('on', id, true);
    assert.equal(on.enabledAt, '2025-03-01T12:30:20.000Z');
    assert.equal(on.lastFiredFor, '2025-03-01T10:05:00.000Z');

    // Down since 12:30:20; up again at 12:40:30. 12:30 and earlier fell while the trigger was off.
    clock.now = new Date('2025-03-01T12:40:30.000Z');
    scheduler.puts = [];
    assert.deepEqual(await triggers.restoreSchedules({ catchUp: 3 }), {
      restored: 1,
      caughtUp: 2,
      failures: [],
    });
    assert.deepEqual(await firedFor(), [
      '2025-03-01T10:05:00.000Z',
      '2025-03-01T12:35:00.000Z',
      '2025-03-01T12:40:00.000Z',
    ]);
    assert.deepEqual(scheduler.puts, [
      { triggerId: id, expression: 'cron(0/5 * * * ? *)', timezone: 'UTC', enabled: true },
    ]);

    // Fired after re-enabling: the last firing (12:40) is now the latest, not enabledAt.
    clock.now = new Date('2025-03-01T12:55:30.000Z');
    assert.deepEqual(await triggers.restoreSchedules({ catchUp: 10 }), {
      restored: 1,
      caughtUp: 3,
      failures: [],
    });
    assert.deepEqual((await firedFor()).slice(3), [
      '2025-03-01T12:45:00.000Z',
      '2025-03-01T12:50:00.000Z',
      '2025-03-01T12:55:00.000Z',
    ]);
    assert.equal((await triggers.get('on', id)).enabledAt, '2025-03-01T12:30:20.000Z');
  });

  it('catches up a rate() trigger without a start at its creation time plus whole periods', async () => {
    const { triggers, scheduler, clock, newFlow, executionsOf } = env;
    const flowId = await newFlow('rate');
    clock.now = new Date('2025-03-01T13:00:20.500Z');
    const trigger = await triggers.create({
      tenant: 'rate',
      flowId,
      type: 'cron',
      cron: { expression: 'rate(10 minutes)' },
    });
    assert.deepEqual(scheduler.puts.at(-1), {
      triggerId: trigger.id,
      expression: 'rate(10 minutes)',
      timezone: 'UTC',
      start: '2025-03-01T13:00:20.500Z',
      enabled: true,
    });
    assert.deepEqual(nextFireTimes(trigger, new Date('2025-03-01T13:00:20.500Z'), 3), [
      '2025-03-01T13:10:20.500Z',
      '2025-03-01T13:20:20.500Z',
      '2025-03-01T13:30:20.500Z',
    ]);
    assert.deepEqual(scheduleOf(trigger).nextFireTimes(new Date('2025-03-01T13:20:20.500Z'), 1), [
      new Date('2025-03-01T13:30:20.500Z'),
    ]);

    // Down from creation to 13:35: three runs missed; restore replays them at their own times.
    clock.now = new Date('2025-03-01T13:35:00.000Z');
    const result = await triggers.restoreSchedules({ catchUp: 5 });
    assert.deepEqual(result.failures, []);
    assert.deepEqual((await executionsOf('rate', flowId)).map((run) => run.trigger?.firedFor).sort(), [
      '2025-03-01T13:10:20.500Z',
      '2025-03-01T13:20:20.500Z',
      '2025-03-01T13:30:20.500Z',
    ]);
    // A rate() with its own start counts from that start instead.
    const started = await triggers.create({
      tenant: 'rate',
      flowId,
      type: 'cron',
      cron: { expression: 'rate(1 hour)', start: '2025-03-01T09:15:00Z' },
    });
    assert.equal(scheduler.puts.at(-1)?.start, '2025-03-01T09:15:00.000Z');
    assert.deepEqual(nextFireTimes(started, clock.now, 2), [
      '2025-03-01T14:15:00.000Z',
      '2025-03-01T15:15:00.000Z',
    ]);
    // A cron() without a start has none.
    const cron = await triggers.create({
      tenant: 'rate',
      flowId,
      type: 'cron',
      cron: { expression: '0 * * * *' },
    });
    assert.ok(!('start' in (scheduler.puts.at(-1) ?? {})), `no start for ${cron.id}`);
  });
});
