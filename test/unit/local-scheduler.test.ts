import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import { LocalScheduler } from '../../lambdas/adapters/local/local-scheduler.ts';
import { nextFireTimes, type Trigger } from '../../lambdas/core/triggers/service.ts';
import type { ScheduledFire, ScheduleEntry } from '../../lambdas/ports/scheduler.ts';

/**
 * The local scheduler on node:test's mocked setTimeout and Date: every fire
 * is checked against the mocked clock, so "fires at 12:01:00.000" means the
 * delivery ran with Date.now() at that millisecond and not one before.
 */

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

/** Lets deliveries (promises) settle; setImmediate is not mocked. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

interface Delivery {
  event: ScheduledFire;
  /** Date.now() when deliver() was called. */
  at: string;
}

function scheduler(t: TestContext, start: string, deliver?: (event: ScheduledFire) => Promise<void>) {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: new Date(start) });
  const delivered: Delivery[] = [];
  const errors: { event: ScheduledFire; error: unknown }[] = [];
  const local = new LocalScheduler({
    deliver: async (event) => {
      delivered.push({ event, at: new Date().toISOString() });
      await deliver?.(event);
    },
    onError: (event, error) => errors.push({ event, error }),
  });
  t.after(() => local.stop());
  /** Advances the mocked clock and lets the deliveries it caused settle. */
  const tick = async (ms: number) => {
    t.mock.timers.tick(ms);
    await settle();
  };
  return { local, delivered, errors, tick };
}

const entry = (overrides: Partial<ScheduleEntry> = {}): ScheduleEntry => ({
  triggerId: 't1',
  expression: 'cron(* * * * ? *)',
  timezone: 'UTC',
  enabled: true,
  ...overrides,
});

const times = (delivered: Delivery[]) => delivered.map((d) => d.event.scheduledTime);

describe('LocalScheduler (mocked timers)', { timeout: 10_000 }, () => {
  test('an every-minute schedule fires at each minute boundary with that boundary as scheduledTime', async (t) => {
    const { local, delivered, tick } = scheduler(t, '2025-03-01T12:00:20.000Z');
    await local.put(entry());
    assert.deepEqual(local.pending(), [{ triggerId: 't1', next: '2025-03-01T12:01:00.000Z' }]);

    await tick(40_000 - 1); // 12:00:59.999
    assert.deepEqual(times(delivered), []);
    await tick(1); // 12:01:00.000
    assert.deepEqual(delivered, [
      {
        event: { triggerId: 't1', scheduledTime: '2025-03-01T12:01:00.000Z' },
        at: '2025-03-01T12:01:00.000Z',
      },
    ]);

    await tick(MINUTE - 1);
    assert.equal(delivered.length, 1);
    await tick(1);
    await tick(MINUTE);
    assert.deepEqual(delivered.slice(1), [
      {
        event: { triggerId: 't1', scheduledTime: '2025-03-01T12:02:00.000Z' },
        at: '2025-03-01T12:02:00.000Z',
      },
      {
        event: { triggerId: 't1', scheduledTime: '2025-03-01T12:03:00.000Z' },
        at: '2025-03-01T12:03:00.000Z',
      },
    ]);
    await tick(1);
    assert.deepEqual(local.pending(), [{ triggerId: 't1', next: '2025-03-01T12:04:00.000Z' }]);
  });

  test('a disabled schedule never fires', async (t) => {
    const { local, delivered, tick } = scheduler(t, '2025-03-01T12:00:00.000Z');
    await local.put(entry({ enabled: false }));
    assert.deepEqual(local.pending(), []);
    await tick(10 * MINUTE);
    assert.deepEqual(times(delivered), []);
  });

  test('putting an entry again replaces it: the old timer no longer fires', async (t) => {
    const { local, delivered, tick } = scheduler(t, '2025-03-01T12:00:30.000Z');
    await local.put(entry());
    await local.put(entry({ expression: 'cron(0 * * * ? *)' }));
    assert.deepEqual(local.pending(), [{ triggerId: 't1', next: '2025-03-01T13:00:00.000Z' }]);
    await tick(60 * MINUTE - 30_001); // 12:59:59.999
    assert.deepEqual(times(delivered), [], 'the every-minute timer was cleared');
    await tick(1);
    assert.deepEqual(times(delivered), ['2025-03-01T13:00:00.000Z']);

    // Replaced by a disabled definition: nothing more.
    await local.put(entry({ expression: 'cron(0 * * * ? *)', enabled: false }));
    await tick(3 * 60 * MINUTE);
    assert.equal(delivered.length, 1);
    // And enabled again: it fires from now on, without replaying what it missed.
    await local.put(entry({ expression: 'cron(0 * * * ? *)' }));
    await tick(60 * MINUTE);
    assert.deepEqual(times(delivered), ['2025-03-01T13:00:00.000Z', '2025-03-01T17:00:00.000Z']);
  });

  test('remove() stops a schedule; removing an unknown one is no error', async (t) => {
    const { local, delivered, tick } = scheduler(t, '2025-03-01T12:00:30.000Z');
    await local.put(entry());
    await local.put(entry({ triggerId: 't2' }));
    await tick(30_000);
    assert.deepEqual(delivered.map((d) => d.event.triggerId).sort(), ['t1', 't2']);
    await local.remove('t1');
    await local.remove('never-put');
    await tick(5 * MINUTE);
    assert.deepEqual(
      delivered.slice(2).map((d) => d.event.triggerId),
      ['t2', 't2', 't2', 't2', 't2'],
    );
    assert.deepEqual(
      local.pending().map((p) => p.triggerId),
      ['t2'],
    );
  });

  test('a fire time further away than setTimeout allows (24.8 days) fires at that instant, not before', async (t) => {
    const { local, delivered, tick } = scheduler(t, '2025-01-01T00:00:00.000Z');
    // Once a year, on June 1st at 09:30 UTC: 151 days away.
    await local.put(entry({ expression: 'cron(30 9 1 6 ? *)' }));
    assert.deepEqual(local.pending(), [{ triggerId: 't1', next: '2025-06-01T09:30:00.000Z' }]);
    const due = Date.parse('2025-06-01T09:30:00.000Z');
    // A day at a time: the timer expires (and re-arms) several times on the way.
    while (Date.now() + DAY < due) await tick(DAY);
    await tick(due - Date.now() - 1);
    assert.equal(new Date().toISOString(), '2025-06-01T09:29:59.999Z');
    assert.deepEqual(times(delivered), []);
    assert.deepEqual(local.pending(), [{ triggerId: 't1', next: '2025-06-01T09:30:00.000Z' }]);
    await tick(1);
    assert.deepEqual(delivered, [
      {
        event: { triggerId: 't1', scheduledTime: '2025-06-01T09:30:00.000Z' },
        at: '2025-06-01T09:30:00.000Z',
      },
    ]);
    await tick(1);
    assert.deepEqual(local.pending(), [{ triggerId: 't1', next: '2026-06-01T09:30:00.000Z' }]);
  });

  test('the same far-off instant is hit when the clock jumps past several timer expiries at once', async (t) => {
    const { local, delivered, tick } = scheduler(t, '2025-01-01T00:00:00.000Z');
    await local.put(entry({ expression: 'cron(30 9 1 6 ? *)' }));
    await tick(Date.parse('2025-06-01T09:30:00.000Z') - Date.now() - 1);
    assert.deepEqual(times(delivered), []);
    await tick(1);
    assert.deepEqual(times(delivered), ['2025-06-01T09:30:00.000Z']);
  });

  test('a schedule with an end stops firing before it (end is exclusive)', async (t) => {
    const { local, delivered, tick } = scheduler(t, '2025-03-01T12:00:30.000Z');
    await local.put(entry({ start: '2025-03-01T12:02:00.000Z', end: '2025-03-01T12:05:00.000Z' }));
    assert.deepEqual(local.pending(), [{ triggerId: 't1', next: '2025-03-01T12:02:00.000Z' }]);
    await tick(3 * MINUTE + 29_999); // 12:03:59.999
    assert.deepEqual(local.pending(), [{ triggerId: 't1', next: '2025-03-01T12:04:00.000Z' }]);
    await tick(1); // 12:04:00.000: the last run fires and the schedule has ended
    assert.deepEqual(local.pending(), []);
    await tick(30 * MINUTE);
    assert.deepEqual(times(delivered), [
      '2025-03-01T12:02:00.000Z',
      '2025-03-01T12:03:00.000Z',
      '2025-03-01T12:04:00.000Z',
    ]);
  });

  test('pending() no longer lists a schedule once it has fired its last time', async (t) => {
    const { local, delivered, tick } = scheduler(t, '2025-03-01T12:00:30.000Z');
    await local.put(entry({ start: '2025-03-01T12:02:00.000Z', end: '2025-03-01T12:05:00.000Z' }));
    await tick(4 * MINUTE); // 12:04:30, after the last fire time (12:04)
    assert.equal(delivered.length, 3);
    assert.deepEqual(local.pending(), [], 'nothing is armed: the schedule has ended');
  });

  test('a failing delivery is reported to onError and the next fire time still fires', async (t) => {
    let calls = 0;
    const { local, delivered, errors, tick } = scheduler(t, '2025-03-01T12:00:30.000Z', async () => {
      calls += 1;
      if (calls === 1) throw new Error('fire-trigger failed');
    });
    await local.put(entry());
    await tick(30_000);
    assert.equal(errors.length, 1);
    assert.deepEqual(errors[0]?.event, { triggerId: 't1', scheduledTime: '2025-03-01T12:01:00.000Z' });
    assert.match(String(errors[0]?.error), /fire-trigger failed/);
    await tick(MINUTE);
    assert.deepEqual(times(delivered), ['2025-03-01T12:01:00.000Z', '2025-03-01T12:02:00.000Z']);
    assert.equal(errors.length, 1, 'the second delivery succeeded');
  });

  test('stop() clears every timer, waits for deliveries under way, and arms nothing afterwards', async (t) => {
    let release: () => void = () => {};
    let finished = false;
    const { local, delivered, tick } = scheduler(t, '2025-03-01T12:00:30.000Z', async (event) => {
      if (event.triggerId !== 'slow') return;
      await new Promise<void>((resolve) => {
        release = resolve;
      });
      finished = true;
    });
    await local.put(entry({ triggerId: 'slow' }));
    await local.put(entry({ triggerId: 'hourly', expression: 'rate(1 hour)' }));
    await tick(30_000);
    assert.deepEqual(times(delivered), ['2025-03-01T12:01:00.000Z']);

    let stopped = false;
    const stopping = local.stop().then(() => {
      stopped = true;
    });
    await settle();
    assert.equal(stopped, false, 'stop() waits for the delivery under way');
    release();
    await stopping;
    assert.equal(finished, true);
    assert.deepEqual(local.pending(), []);

    await local.put(entry({ triggerId: 'late' }));
    await tick(2 * DAY);
    assert.equal(delivered.length, 1);
    assert.deepEqual(local.pending(), []);
  });

  test('cron fields are read in the schedule’s time zone', async (t) => {
    const { local, delivered, tick } = scheduler(t, '2025-03-01T12:00:00.000Z');
    // 02:00 in Shanghai (UTC+8) is 18:00 UTC the day before.
    await local.put(entry({ expression: 'cron(0 2 * * ? *)', timezone: 'Asia/Shanghai' }));
    assert.deepEqual(local.pending(), [{ triggerId: 't1', next: '2025-03-01T18:00:00.000Z' }]);
    await tick(6 * 60 * MINUTE - 1);
    assert.deepEqual(times(delivered), []);
    await tick(1);
    await tick(DAY);
    assert.deepEqual(
      delivered.map((d) => [d.event.scheduledTime, d.at]),
      [
        ['2025-03-01T18:00:00.000Z', '2025-03-01T18:00:00.000Z'],
        ['2025-03-02T18:00:00.000Z', '2025-03-02T18:00:00.000Z'],
      ],
    );
  });

  test('a time zone with daylight saving time keeps the local hour across the change', async (t) => {
    const { local, delivered, tick } = scheduler(t, '2025-03-28T00:00:00.000Z');
    // Europe/Berlin moves from UTC+1 to UTC+2 on 2025-03-30.
    await local.put(entry({ expression: 'cron(0 9 * * ? *)', timezone: 'Europe/Berlin' }));
    await tick(4 * DAY);
    assert.deepEqual(times(delivered), [
      '2025-03-28T08:00:00.000Z',
      '2025-03-29T08:00:00.000Z',
      '2025-03-30T07:00:00.000Z',
      '2025-03-31T07:00:00.000Z',
    ]);
  });

  test('pending() reports the instant the armed timer waits for, even once the clock has passed it', async (t) => {
    const { local, delivered, tick } = scheduler(t, '2025-03-01T12:00:20.000Z');
    await local.put(entry());
    // The clock jumps (a laptop waking up) without the timer having run yet.
    t.mock.timers.setTime(Date.parse('2025-03-01T12:03:30.000Z'));
    assert.deepEqual(local.pending(), [{ triggerId: 't1', next: '2025-03-01T12:01:00.000Z' }]);
    assert.deepEqual(times(delivered), []);
    await tick(0);
    assert.deepEqual(delivered[0], {
      event: { triggerId: 't1', scheduledTime: '2025-03-01T12:01:00.000Z' },
      at: '2025-03-01T12:03:30.000Z',
    });
  });

  test('a deliver that throws synchronously is reported to onError and the next fire time still fires', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: new Date('2025-03-01T12:00:30.000Z') });
    const calls: string[] = [];
    const errors: { event: ScheduledFire; error: unknown }[] = [];
    const local = new LocalScheduler({
      // Not an async function: the first call throws before returning a promise.
      deliver: (event) => {
        calls.push(event.scheduledTime);
        if (calls.length === 1) throw new Error('thrown synchronously');
        return Promise.resolve();
      },
      onError: (event, error) => errors.push({ event, error }),
    });
    t.after(() => local.stop());
    await local.put(entry());
    t.mock.timers.tick(30_000); // 12:01:00.000
    await settle();
    assert.deepEqual(calls, ['2025-03-01T12:01:00.000Z']);
    assert.equal(errors.length, 1);
    assert.deepEqual(errors[0]?.event, { triggerId: 't1', scheduledTime: '2025-03-01T12:01:00.000Z' });
    assert.match(String(errors[0]?.error), /thrown synchronously/);
    assert.deepEqual(local.pending(), [{ triggerId: 't1', next: '2025-03-01T12:02:00.000Z' }]);
    t.mock.timers.tick(MINUTE);
    await settle();
    assert.deepEqual(calls, ['2025-03-01T12:01:00.000Z', '2025-03-01T12:02:00.000Z']);
    assert.equal(errors.length, 1, 'the second delivery succeeded');
  });

  test('an onError that throws is contained: no unhandled rejection, and the schedule keeps firing', async (t) => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    t.after(() => {
      process.off('unhandledRejection', onUnhandled);
    });
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: new Date('2025-03-01T12:00:30.000Z') });
    const calls: string[] = [];
    const reported: string[] = [];
    const local = new LocalScheduler({
      deliver: async (event) => {
        calls.push(event.scheduledTime);
        throw new Error('fire-trigger failed');
      },
      onError: (event) => {
        reported.push(event.scheduledTime);
        throw new Error('the error reporter failed too');
      },
    });
    t.after(() => local.stop());
    await local.put(entry());
    for (let minute = 0; minute < 3; minute += 1) {
      t.mock.timers.tick(minute === 0 ? 30_000 : MINUTE);
      await settle();
    }
    // Unhandled rejections are reported after the microtask queue drains: give them a turn.
    await settle();
    await settle();
    const expected = ['2025-03-01T12:01:00.000Z', '2025-03-01T12:02:00.000Z', '2025-03-01T12:03:00.000Z'];
    assert.deepEqual(calls, expected);
    assert.deepEqual(reported, expected);
    assert.deepEqual(unhandled, []);
    assert.deepEqual(local.pending(), [{ triggerId: 't1', next: '2025-03-01T12:04:00.000Z' }]);
    await local.stop(); // settles: the deliveries under way all ended quietly
  });

  test('a rate() entry started at an odd instant (a trigger’s createdAt) fires at start + k·period', async (t) => {
    const { local, delivered, tick } = scheduler(t, '2025-03-01T12:00:30.250Z');
    const createdAt = '2025-03-01T12:00:30.250Z';
    const trigger: Trigger = {
      id: 't1',
      tenant: 'x',
      flowId: 'f',
      starter: 'engine',
      target: 'f',
      type: 'cron',
      cron: { expression: 'rate(5 minutes)', awsExpression: 'rate(5 minutes)', timezone: 'UTC' },
      context: {},
      enabled: true,
      createdAt,
    };
    // What the trigger service puts for a rate() trigger without a start.
    await local.put(entry({ expression: 'rate(5 minutes)', start: createdAt }));
    const expected = ['2025-03-01T12:05:30.250Z', '2025-03-01T12:10:30.250Z', '2025-03-01T12:15:30.250Z'];
    assert.deepEqual(
      nextFireTimes(trigger, new Date(createdAt), 3),
      expected,
      'the service predicts the same',
    );
    assert.deepEqual(local.pending(), [{ triggerId: 't1', next: expected[0] }]);
    await tick(5 * MINUTE - 1);
    assert.deepEqual(times(delivered), []);
    await tick(1);
    await tick(5 * MINUTE);
    await tick(5 * MINUTE);
    assert.deepEqual(
      delivered.map((d) => [d.event.scheduledTime, d.at]),
      expected.map((time) => [time, time]),
    );
  });
});
