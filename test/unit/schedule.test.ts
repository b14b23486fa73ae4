import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DomainError } from '../../lambdas/core/errors.ts';
import { fireKey, parseSchedule } from '../../lambdas/core/schedules/schedule.ts';

const iso = (dates: Date[]) => dates.map((d) => d.toISOString());

const refuses = (fn: () => unknown, message: RegExp) =>
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof DomainError, 'expected a DomainError');
    assert.equal(error.kind, 'validation');
    assert.match(error.message, message);
    assert.equal(error.issues.length, 1);
    return true;
  });

describe('parseSchedule: syntaxes and AWS expression', () => {
  const cases: [string, string, 'unix' | 'seconds' | 'quartz' | 'aws-cron' | 'aws-rate', string][] = [
    ['unix daily', '0 2 * * *', 'unix', 'cron(0 2 * * ? *)'],
    ['unix weekdays', '30 9 * * 1-5', 'unix', 'cron(30 9 ? * 2-6 *)'],
    ['unix sunday as 7 and 0', '0 0 * * 0,7', 'unix', 'cron(0 0 ? * 1 *)'],
    ['unix range ending on 7', '0 0 * * 5-7', 'unix', 'cron(0 0 ? * 1,6,7 *)'],
    ['unix day names', '0 8 * * mon-fri', 'unix', 'cron(0 8 ? * 2-6 *)'],
    ['unix dow step expanded', '0 8 * * */2', 'unix', 'cron(0 8 ? * 1,3,5,7 *)'],
    ['unix minute step', '*/15 * * * *', 'unix', 'cron(0/15 * * * ? *)'],
    ['unix day of month', '0 0 1,15 * *', 'unix', 'cron(0 0 1,15 * ? *)'],
    ['unix month step', '0 0 1 */3 *', 'unix', 'cron(0 0 1 1/3 ? *)'],
    ['seconds (Rill Flow) every minute', '0 * * * * *', 'seconds', 'cron(* * * * ? *)'],
    ['seconds with ? dom', '0 0 12 ? * 1', 'seconds', 'cron(0 12 ? * 2 *)'],
    ['quartz (EnOS) midnight', '0 0 0 * * ? *', 'quartz', 'cron(0 0 * * ? *)'],
    ['quartz friday = 6', '0 15 10 ? * 6 2030', 'quartz', 'cron(15 10 ? * 6 2030)'],
    ['quartz last friday', '0 0 0 ? * 6L *', 'quartz', 'cron(0 0 ? * 6L *)'],
    ['quartz last day of month', '0 0 0 L * ? *', 'quartz', 'cron(0 0 L * ? *)'],
    ['aws cron kept', 'cron(0 2 * * ? *)', 'aws-cron', 'cron(0 2 * * ? *)'],
    ['aws cron nth weekday', 'cron(0 9 ? * 3#2 *)', 'aws-cron', 'cron(0 9 ? * 3#2 *)'],
    ['aws cron * dow becomes ?', 'cron(0 2 * * * *)', 'aws-cron', 'cron(0 2 * * ? *)'],
    ['rate minutes', 'rate(5 minutes)', 'aws-rate', 'rate(5 minutes)'],
    ['rate hour', 'rate(1 hour)', 'aws-rate', 'rate(1 hour)'],
    ['rate day', 'rate(1 day)', 'aws-rate', 'rate(1 day)'],
    ['rate plural fixed', 'rate(1 minutes)', 'aws-rate', 'rate(1 minute)'],
    ['rate singular fixed', 'rate(2 hour)', 'aws-rate', 'rate(2 hours)'],
  ];
  for (const [name, expression, syntax, aws] of cases) {
    it(`${name}: ${expression} -> ${aws}`, () => {
      const schedule = parseSchedule(expression);
      assert.equal(schedule.syntax, syntax);
      assert.equal(schedule.kind, syntax === 'aws-rate' ? 'rate' : 'cron');
      assert.equal(schedule.expression, expression);
      assert.equal(schedule.awsExpression, aws);
      assert.equal(schedule.timezone, 'UTC');
    });
  }

  it('AWS expression round-trips to the same schedule', () => {
    for (const expression of ['30 9 * * 1-5', '0 0 * * 5-7', '0 0 0 ? * 6L *', '*/15 * * * *']) {
      const schedule = parseSchedule(expression);
      const again = parseSchedule(schedule.awsExpression);
      assert.equal(again.awsExpression, schedule.awsExpression);
      const after = new Date('2025-01-01T00:00:00Z');
      assert.deepEqual(iso(again.nextFireTimes(after, 10)), iso(schedule.nextFireTimes(after, 10)));
    }
  });
});

describe('nextFireTimes', () => {
  const after = new Date('2025-01-01T00:00:00Z');

  it('daily at 02:00 UTC, strictly after the given instant', () => {
    const s = parseSchedule('0 2 * * *');
    assert.deepEqual(iso(s.nextFireTimes(after, 3)), [
      '2025-01-01T02:00:00.000Z',
      '2025-01-02T02:00:00.000Z',
      '2025-01-03T02:00:00.000Z',
    ]);
    assert.deepEqual(iso(s.nextFireTimes(new Date('2025-01-01T02:00:00Z'), 1)), ['2025-01-02T02:00:00.000Z']);
    assert.deepEqual(s.nextFireTimes(after, 0), []);
  });

  it('every minute (Rill Flow 6-field) and weekdays (unix numbering)', () => {
    assert.deepEqual(iso(parseSchedule('0 * * * * *').nextFireTimes(after, 2)), [
      '2025-01-01T00:01:00.000Z',
      '2025-01-01T00:02:00.000Z',
    ]);
    // 2025-01-03 is a Friday, 01-06 a Monday.
    assert.deepEqual(iso(parseSchedule('30 9 * * 1-5').nextFireTimes(new Date('2025-01-03T10:00:00Z'), 2)), [
      '2025-01-06T09:30:00.000Z',
      '2025-01-07T09:30:00.000Z',
    ]);
  });

  it('quartz numbering: 6L = last Friday, year field restricts', () => {
    assert.deepEqual(iso(parseSchedule('0 0 0 ? * 6L *').nextFireTimes(after, 2)), [
      '2025-01-31T00:00:00.000Z',
      '2025-02-28T00:00:00.000Z',
    ]);
    const only2030 = parseSchedule('cron(0 0 1 1 ? 2030)');
    assert.deepEqual(iso(only2030.nextFireTimes(after, 3)), ['2030-01-01T00:00:00.000Z']);
  });

  it('time zone Asia/Shanghai (UTC+8)', () => {
    const s = parseSchedule('0 2 * * *', { timezone: 'Asia/Shanghai' });
    assert.equal(s.timezone, 'Asia/Shanghai');
    assert.equal(s.awsExpression, 'cron(0 2 * * ? *)');
    assert.deepEqual(iso(s.nextFireTimes(after, 2)), [
      '2025-01-01T18:00:00.000Z',
      '2025-01-02T18:00:00.000Z',
    ]);
  });

  it('America/New_York across the spring-forward transition (2025-03-09)', () => {
    const s = parseSchedule('0 9 * * *', { timezone: 'America/New_York' });
    assert.deepEqual(iso(s.nextFireTimes(new Date('2025-03-07T12:00:00Z'), 4)), [
      '2025-03-07T14:00:00.000Z', // EST, UTC-5
      '2025-03-08T14:00:00.000Z',
      '2025-03-09T13:00:00.000Z', // EDT, UTC-4
      '2025-03-10T13:00:00.000Z',
    ]);
  });

  it('America/New_York: nonexistent 02:30 runs at 03:00, repeated 01:30 runs once', () => {
    const gap = parseSchedule('30 2 * * *', { timezone: 'America/New_York' });
    assert.deepEqual(iso(gap.nextFireTimes(new Date('2025-03-08T12:00:00Z'), 3)), [
      '2025-03-09T07:00:00.000Z',
      '2025-03-10T06:30:00.000Z',
      '2025-03-11T06:30:00.000Z',
    ]);
    const overlap = parseSchedule('30 1 * * *', { timezone: 'America/New_York' });
    assert.deepEqual(iso(overlap.nextFireTimes(new Date('2025-11-01T12:00:00Z'), 3)), [
      '2025-11-02T05:30:00.000Z',
      '2025-11-03T06:30:00.000Z',
      '2025-11-04T06:30:00.000Z',
    ]);
  });

  it('cron bounds: start inclusive, end exclusive', () => {
    const s = parseSchedule('0 0 * * *', { start: '2025-01-03T00:00:00Z', end: '2025-01-05T00:00:00+00:00' });
    assert.equal(s.start, '2025-01-03T00:00:00.000Z');
    assert.equal(s.end, '2025-01-05T00:00:00.000Z');
    assert.deepEqual(iso(s.nextFireTimes(after, 5)), [
      '2025-01-03T00:00:00.000Z',
      '2025-01-04T00:00:00.000Z',
    ]);
    assert.deepEqual(s.nextFireTimes(new Date('2025-01-04T00:00:00Z'), 5), []);
  });

  it('bounds with an offset are normalized to UTC', () => {
    const s = parseSchedule('0 9 * * *', { timezone: 'Asia/Shanghai', start: '2025-01-02T09:00:00+08:00' });
    assert.equal(s.start, '2025-01-02T01:00:00.000Z');
    assert.deepEqual(iso(s.nextFireTimes(after, 1)), ['2025-01-02T01:00:00.000Z']);
  });

  it('rate without start is anchored on the epoch (deterministic)', () => {
    const s = parseSchedule('rate(5 minutes)');
    assert.deepEqual(iso(s.nextFireTimes(new Date('2025-01-01T00:07:30Z'), 3)), [
      '2025-01-01T00:10:00.000Z',
      '2025-01-01T00:15:00.000Z',
      '2025-01-01T00:20:00.000Z',
    ]);
    assert.deepEqual(iso(s.nextFireTimes(new Date('2025-01-01T00:10:00Z'), 1)), ['2025-01-01T00:15:00.000Z']);
  });

  it('rate anchored on start, stopping before end', () => {
    const s = parseSchedule('rate(1 hour)', { start: '2025-01-01T00:20:00Z', end: '2025-01-01T03:20:00Z' });
    assert.deepEqual(iso(s.nextFireTimes(after, 10)), [
      '2025-01-01T00:20:00.000Z',
      '2025-01-01T01:20:00.000Z',
      '2025-01-01T02:20:00.000Z',
    ]);
    assert.deepEqual(iso(parseSchedule('rate(1 day)').nextFireTimes(after, 1)), ['2025-01-02T00:00:00.000Z']);
  });

  it('fireKey combines flow and scheduled time', () => {
    const [first] = parseSchedule('0 2 * * *').nextFireTimes(after, 1);
    assert.equal(fireKey('flow-1', first as Date), 'flow-1@2025-01-01T02:00:00.000Z');
  });
});

describe('refusals', () => {
  const cases: [string, () => unknown, RegExp][] = [
    [
      'seconds step (6-field)',
      () => parseSchedule('*/30 * * * * *'),
      /Seconds field must be 0, got "\*\/30".*once a minute/,
    ],
    [
      'seconds list (7-field)',
      () => parseSchedule('0,30 * * * * ? *'),
      /Seconds field must be 0.*once a minute/,
    ],
    ['seconds wildcard', () => parseSchedule('* * * * * *'), /Seconds field must be 0, got "\*"/],
    ['non-zero seconds', () => parseSchedule('15 0 2 * * ?'), /Seconds field must be 0, got "15"/],
    [
      'rate seconds',
      () => parseSchedule('rate(30 seconds)'),
      /rate\(30 seconds\) is in seconds.*once a minute/,
    ],
    ['rate 1 second', () => parseSchedule('rate(1 second)'), /is in seconds.*EventBridge Scheduler/],
    ['rate zero', () => parseSchedule('rate(0 minutes)'), /positive whole number, got "0"/],
    ['rate fraction', () => parseSchedule('rate(1.5 hours)'), /positive whole number, got "1.5"/],
    ['rate unknown unit', () => parseSchedule('rate(2 weeks)'), /Unknown rate unit "weeks"/],
    ['rate malformed', () => parseSchedule('rate(5)'), /takes a value and a unit/],
    ['empty', () => parseSchedule('  '), /empty/],
    ['unknown function', () => parseSchedule('at(2025-01-01T00:00:00)'), /Unknown schedule expression/],
    ['too few fields', () => parseSchedule('0 2 * *'), /needs 5 .* got 4/],
    ['too many fields', () => parseSchedule('0 0 0 * * ? * *'), /got 8/],
    ['aws cron wrong count', () => parseSchedule('cron(0 2 * * ?)'), /AWS cron\(\) needs 6 fields.*got 5/],
    ['both days set', () => parseSchedule('0 0 1 * 1'), /both set.*"\?"/],
    ['both days ?', () => parseSchedule('cron(0 0 ? * ? *)'), /Only one of day-of-month and day-of-week/],
    [
      'minute out of range',
      () => parseSchedule('61 * * * *'),
      /Invalid cron expression 61 \* \* \* \*: .*minute/,
    ],
    ['hour out of range', () => parseSchedule('cron(0 24 * * ? *)'), /Invalid cron expression.*hour/],
    ['unix dow out of range', () => parseSchedule('0 0 * * 8'), /Day-of-week 8 is out of range 0-7/],
    ['quartz dow out of range', () => parseSchedule('0 0 0 ? * 0 *'), /Day-of-week 0 is out of range 1-7/],
    ['dow backwards', () => parseSchedule('0 0 * * 5-1'), /runs backwards/],
    [
      'bad time zone',
      () => parseSchedule('0 2 * * *', { timezone: 'Mars/Olympus' }),
      /Unknown time zone "Mars\/Olympus"/,
    ],
    [
      'start not ISO',
      () => parseSchedule('0 2 * * *', { start: 'tomorrow' }),
      /start "tomorrow" is not an ISO 8601/,
    ],
    [
      'start without offset',
      () => parseSchedule('0 2 * * *', { start: '2025-01-01T00:00:00' }),
      /with an offset/,
    ],
    [
      'invalid date',
      () => parseSchedule('0 2 * * *', { end: '2025-02-30T00:00:00Z' }),
      /end .* is not a valid date/,
    ],
    [
      'end before start',
      () => parseSchedule('0 2 * * *', { start: '2025-02-01T00:00:00Z', end: '2025-01-01T00:00:00Z' }),
      /end \(2025-01-01T00:00:00Z\) must be after start \(2025-02-01T00:00:00Z\)/,
    ],
    [
      'end equal to start',
      () => parseSchedule('rate(1 day)', { start: '2025-01-01T00:00:00Z', end: '2025-01-01T00:00:00Z' }),
      /must be after start/,
    ],
    [
      'count too large',
      () => parseSchedule('rate(1 day)').nextFireTimes(new Date(), 100_000),
      /count must be an integer/,
    ],
  ];
  for (const [name, fn, message] of cases) {
    it(name, () => refuses(fn, message));
  }
});
