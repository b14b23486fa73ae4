/**
 * Schedule model for triggers: parses the cron / rate dialects the flow APIs
 * use, normalizes them to the one expression EventBridge Scheduler accepts,
 * and computes fire times locally (same semantics as AWS) with `croner`.
 *
 * Accepted syntaxes:
 * - `unix`     5 fields `m h dom mon dow` (dow 0-7, 0 and 7 = Sunday)
 * - `seconds`  6 fields `s m h dom mon dow` as Rill Flow uses (dow as in unix)
 * - `quartz`   7 fields `s m h dom mon dow year` (EnOS; dow 1-7, 1 = Sunday)
 * - `aws-cron` `cron(m h dom mon dow year)` (dow 1-7, 1 = Sunday)
 * - `aws-rate` `rate(N minute|minutes|hour|hours|day|days)`
 *
 * Anything that would fire more often than once a minute is refused everywhere,
 * because EventBridge Scheduler cannot: local and AWS runs must behave alike.
 */
import { Cron } from 'croner';
import { type ValidationIssue, validationFailed } from '../errors.ts';

export type ScheduleSyntax = 'unix' | 'seconds' | 'quartz' | 'aws-cron' | 'aws-rate';

export interface ScheduleOptions {
  /** IANA time zone the cron fields are read in; defaults to UTC. */
  timezone?: string;
  /** ISO 8601 timestamp with offset; first fire time may be exactly this instant (inclusive). */
  start?: string;
  /** ISO 8601 timestamp with offset, after `start`; no fire time at or after it (exclusive). */
  end?: string;
}

export interface Schedule {
  readonly kind: 'cron' | 'rate';
  readonly syntax: ScheduleSyntax;
  /** The expression exactly as given. */
  readonly expression: string;
  /** `cron(...)` or `rate(...)` exactly as EventBridge Scheduler accepts it. */
  readonly awsExpression: string;
  /** IANA time zone (ScheduleExpressionTimezone); `UTC` by default. */
  readonly timezone: string;
  /** Normalized ISO (UTC) bounds. */
  readonly start?: string;
  readonly end?: string;
  /**
   * The next `count` fire times strictly after `after`, honouring time zone and
   * bounds. Fewer (or none) are returned when the schedule ends first.
   */
  nextFireTimes(after: Date, count: number): Date[];
}

/** Most fire times one call may ask for. */
export const MAX_FIRE_TIMES = 1000;

const SUB_MINUTE =
  'EventBridge Scheduler cannot run a schedule more often than once a minute, so sub-minute schedules are refused (locally too, so local and AWS behave the same)';

const fail = (message: string, path = 'expression'): never => {
  const issues: ValidationIssue[] = [{ path, message }];
  throw validationFailed(message, issues);
};

/** Key that identifies one firing of one schedule (a trigger's), for idempotent starts. */
export const fireKey = (scheduleId: string, scheduledTime: Date): string =>
  `${scheduleId}@${scheduledTime.toISOString()}`;

export function parseSchedule(expression: string, options: ScheduleOptions = {}): Schedule {
  if (typeof expression !== 'string' || expression.trim() === '') {
    fail('Schedule expression is empty');
  }
  const timezone = parseTimezone(options.timezone);
  const start = parseBound(options.start, 'start');
  const end = parseBound(options.end, 'end');
  if (start && end && end.getTime() <= start.getTime()) {
    fail(`Schedule end (${options.end}) must be after start (${options.start})`, 'end');
  }
  const text = expression.trim();
  const bounds = { start: start?.toISOString(), end: end?.toISOString() };

  const rate = /^rate\((.*)\)$/is.exec(text);
  if (rate) return rateSchedule(expression, rate[1] ?? '', timezone, start, end, bounds);

  const aws = /^cron\((.*)\)$/is.exec(text);
  let syntax: ScheduleSyntax;
  let fields: string[];
  if (aws) {
    syntax = 'aws-cron';
    fields = splitFields(aws[1] ?? '');
    if (fields.length !== 6) {
      fail(
        `AWS cron() needs 6 fields (minutes hours day-of-month month day-of-week year), got ${fields.length}: ${text}`,
      );
    }
    fields = ['0', ...fields];
  } else {
    if (/^[a-z]+\(/i.test(text)) {
      fail(`Unknown schedule expression ${text}: expected cron(...), rate(...) or 5, 6 or 7 cron fields`);
    }
    fields = splitFields(text);
    if (fields.length === 5) {
      syntax = 'unix';
      fields = ['0', ...fields, '*'];
    } else if (fields.length === 6) {
      syntax = 'seconds';
      fields = [...fields, '*'];
    } else if (fields.length === 7) {
      syntax = 'quartz';
    } else {
      return fail(
        `Cron expression needs 5 (minute hour day-of-month month day-of-week), 6 (seconds first) or 7 (seconds first, year last) fields, got ${fields.length}: ${text}`,
      );
    }
    if (fields[0] !== '0') {
      fail(`Seconds field must be 0, got "${fields[0]}": ${SUB_MINUTE}`);
    }
  }
  return cronSchedule(expression, syntax, fields, timezone, start, end, bounds);
}

function parseTimezone(zone: string | undefined): string {
  if (zone === undefined) return 'UTC';
  if (typeof zone !== 'string' || zone.trim() === '')
    fail('Time zone is empty; use an IANA name such as UTC or Europe/Berlin', 'timezone');
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone;
  } catch {
    return fail(
      `Unknown time zone "${zone}": use an IANA name such as UTC, Asia/Shanghai or America/New_York`,
      'timezone',
    );
  }
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i;

function parseBound(value: string | undefined, name: 'start' | 'end'): Date | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !ISO.test(value)) {
    fail(
      `Schedule ${name} "${value}" is not an ISO 8601 timestamp with an offset, e.g. 2025-01-31T09:00:00Z`,
      name,
    );
  }
  const date = new Date(value);
  const [y, m, d] = value.slice(0, 10).split('-').map(Number) as [number, number, number];
  // Date rolls 2025-02-30 over to March 2; refuse days the month does not have.
  const realDay = new Date(Date.UTC(y, m - 1, d)).getUTCDate() === d;
  if (Number.isNaN(date.getTime()) || !realDay) fail(`Schedule ${name} "${value}" is not a valid date`, name);
  return date;
}

const splitFields = (text: string): string[] => text.trim().split(/\s+/).filter(Boolean);

function checkCount(after: Date, count: number): void {
  if (!(after instanceof Date) || Number.isNaN(after.getTime())) fail('after must be a valid Date', 'after');
  if (!Number.isInteger(count) || count < 0 || count > MAX_FIRE_TIMES) {
    fail(`count must be an integer from 0 to ${MAX_FIRE_TIMES}, got ${count}`, 'count');
  }
}

// ---------------------------------------------------------------- rate(...)

const MINUTE_MS = 60_000;
const UNIT_MS: Record<string, number> = { minute: MINUTE_MS, hour: 60 * MINUTE_MS, day: 24 * 60 * MINUTE_MS };

function rateSchedule(
  expression: string,
  body: string,
  timezone: string,
  start: Date | undefined,
  end: Date | undefined,
  bounds: { start?: string; end?: string },
): Schedule {
  const match = /^\s*(\S+)\s+([a-z]+)\s*$/i.exec(body);
  if (!match) fail(`rate() takes a value and a unit, e.g. rate(5 minutes), got: ${expression.trim()}`);
  const [, rawValue = '', rawUnit = ''] = match as RegExpExecArray;
  const unit = rawUnit.toLowerCase().replace(/s$/, '');
  if (unit === 'second') fail(`rate(${body.trim()}) is in seconds: ${SUB_MINUTE}`);
  const unitMs = UNIT_MS[unit];
  if (unitMs === undefined) fail(`Unknown rate unit "${rawUnit}": use minute(s), hour(s) or day(s)`);
  if (!/^\d+$/.test(rawValue) || Number(rawValue) < 1) {
    fail(`rate() value must be a positive whole number, got "${rawValue}"`);
  }
  const value = Number(rawValue);
  const periodMs = value * (unitMs as number);
  // Fire times are anchored on `start` (as EventBridge does with a StartDate) or,
  // without one, on the Unix epoch so that they are deterministic (idempotency keys).
  const anchor = start?.getTime() ?? 0;
  return {
    kind: 'rate',
    syntax: 'aws-rate',
    expression,
    awsExpression: `rate(${value} ${unit}${value === 1 ? '' : 's'})`,
    timezone,
    ...bounds,
    nextFireTimes(after, count) {
      checkCount(after, count);
      const out: Date[] = [];
      const from = Math.max(after.getTime() + 1, anchor);
      let t = anchor + Math.ceil((from - anchor) / periodMs) * periodMs;
      while (out.length < count && (!end || t < end.getTime())) {
        out.push(new Date(t));
        t += periodMs;
      }
      return out;
    },
  };
}

// ---------------------------------------------------------------- cron(...)

const DOW_NAMES = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

function cronSchedule(
  expression: string,
  syntax: ScheduleSyntax,
  all: string[],
  timezone: string,
  start: Date | undefined,
  end: Date | undefined,
  bounds: { start?: string; end?: string },
): Schedule {
  const [, minute = '', hour = '', domRaw = '', monthRaw = '', dowRaw = '', yearRaw = ''] = all.map((f) =>
    f.toUpperCase(),
  );
  const unixDow = syntax === 'unix' || syntax === 'seconds';
  let dom = domRaw;
  let dow = dowRaw;
  const domAny = dom === '*' || dom === '?';
  const dowAny = dow === '*' || dow === '?';
  if (dom === '?' && dow === '?') fail('Only one of day-of-month and day-of-week may be "?"');
  if (!domAny && !dowAny) {
    fail(
      `Day-of-month (${domRaw}) and day-of-week (${dowRaw}) are both set; AWS cron needs one of them to be "?" (or "*"), so pick one`,
    );
  }
  if (dowAny) {
    dow = '?';
    if (dom === '?') dom = '*';
  } else {
    dom = '?';
    dow = convertDow(dow, unixDow);
  }
  const awsFields = [
    stepFromStar(minute, '0'),
    stepFromStar(hour, '0'),
    stepFromStar(dom, '1'),
    stepFromStar(monthRaw, '1'),
    dow,
    yearRaw,
  ];
  const awsExpression = `cron(${awsFields.join(' ')})`;
  // croner reads "?" as "now", so hand it "*" instead; day-of-week is in Quartz numbering now.
  const pattern = ['0', ...awsFields].map((f) => (f === '?' ? '*' : f)).join(' ');
  let cron: Cron;
  try {
    cron = new Cron(pattern, {
      mode: '7-part',
      timezone,
      alternativeWeekdays: true,
      domAndDow: true,
      // AWS writes increments as 0/15; croner wants sloppyRanges for that form.
      sloppyRanges: true,
      paused: true,
      ...(start ? { startAt: start } : {}),
      ...(end ? { stopAt: end } : {}),
    });
  } catch (error) {
    const reason = error instanceof Error ? error.message.replace(/^CronPattern: /, '') : String(error);
    return fail(`Invalid cron expression ${expression.trim()}: ${reason}`);
  }
  return {
    kind: 'cron',
    syntax,
    expression,
    awsExpression,
    timezone,
    ...bounds,
    nextFireTimes(after, count) {
      checkCount(after, count);
      if (count === 0) return [];
      // croner's startAt is inclusive; nextRuns(n, prev) is strictly after prev.
      return cron.nextRuns(count, after);
    },
  };
}

/** `*`/n → 0/n (or 1/n): the form the AWS docs use for increments. */
const stepFromStar = (field: string, first: string): string => field.replace(/^\*\//, `${first}/`);

/**
 * Day-of-week to AWS (Quartz) numbering, 1 = Sunday … 7 = Saturday. Plain values,
 * ranges and steps are expanded to a list (AWS has no `/` in day-of-week); `nL`
 * and `n#k` items keep their form with the day renumbered.
 */
function convertDow(field: string, unix: boolean): string {
  const days = new Set<number>(); // 0 = Sunday
  const special: string[] = [];
  const day = (token: string): number => {
    const name = DOW_NAMES.indexOf(token);
    if (name >= 0) return name;
    if (!/^\d+$/.test(token)) fail(`Invalid day-of-week "${token}" in "${field}"`);
    const n = Number(token);
    if (unix) {
      if (n > 7) fail(`Day-of-week ${n} is out of range 0-7 (0 and 7 = Sunday) in "${field}"`);
      return n % 7;
    }
    if (n < 1 || n > 7) fail(`Day-of-week ${n} is out of range 1-7 (1 = Sunday) in "${field}"`);
    return n - 1;
  };
  for (const item of field.split(',')) {
    const last = /^(\w+)L$/.exec(item);
    const nth = /^(\w+)#(\d)$/.exec(item);
    if (item === 'L') {
      special.push('L');
      continue;
    }
    if (last || nth) {
      const d = day((last ?? nth)?.[1] ?? '') + 1;
      special.push(last ? `${d}L` : `${d}#${nth?.[2]}`);
      continue;
    }
    const m = /^(\*|\w+)(?:-(\w+))?(?:\/(\d+))?$/.exec(item);
    if (!m) return fail(`Invalid day-of-week item "${item}" in "${field}"`);
    const [, from = '', to, stepText] = m;
    const step = stepText === undefined ? 1 : Number(stepText);
    if (step < 1) fail(`Day-of-week step must be at least 1 in "${field}"`);
    let lo: number;
    let hi: number;
    if (from === '*') {
      lo = 0;
      hi = 6;
    } else {
      lo = day(from);
      // A unix range may end on 7 (Sunday) after Saturday: 5-7 = Fri, Sat, Sun.
      hi = to === undefined ? (stepText === undefined ? lo : 6) : unix && to === '7' ? 7 : day(to);
      if (hi < lo) fail(`Day-of-week range "${item}" runs backwards`);
    }
    for (let d = lo; d <= hi; d += step) days.add(d % 7);
  }
  if (special.length > 0 && days.size > 0)
    fail(`Day-of-week "${field}" mixes L or # with other days; AWS does not allow that`);
  if (special.length > 1) fail(`Day-of-week "${field}" has more than one L or # item; AWS allows only one`);
  if (special.length === 1) return special[0] as string;
  return compress([...days].sort((a, b) => a - b).map((d) => d + 1));
}

/** [2,3,4,6] → "2-4,6". */
function compress(values: number[]): string {
  const parts: string[] = [];
  let i = 0;
  while (i < values.length) {
    let j = i;
    while (j + 1 < values.length && (values[j + 1] as number) === (values[j] as number) + 1) j++;
    parts.push(j - i >= 2 ? `${values[i]}-${values[j]}` : values.slice(i, j + 1).join(','));
    i = j + 1;
  }
  return parts.join(',');
}
