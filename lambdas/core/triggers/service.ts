import { randomUUID } from 'node:crypto';
import type { ItemKey, StoredItem } from '../../ports/metadata-store.ts';
import type { ScheduledFire, ScheduleEntry, Scheduler } from '../../ports/scheduler.ts';
import type { ExecutionService } from '../engine/executions.ts';
import type { JsonObject } from '../engine/json-path.ts';
import type { EngineRecords } from '../engine/records.ts';
import { conflict, isDomainErrorOf, notFound, type ValidationIssue, validationFailed } from '../errors.ts';
import type { TriggerOrigin } from '../flow/model.ts';
import { uuidFromKey } from '../ids.ts';
import { fireKey, parseSchedule, type Schedule } from '../schedules/schedule.ts';
import { wholeCollection } from '../stored-items.ts';

/**
 * Triggers start flows without an HTTPS call: on a cron schedule or when an
 * object is uploaded under a key prefix of Sluice's files bucket. Every
 * dialect's triggers are these; a dialect that keeps its own execution ids
 * (Rill Flow) registers a starter, the rest start the flow directly.
 *
 * | partition     | sort    | holds                          | collection        |
 * |---------------|---------|--------------------------------|-------------------|
 * | `trigger#ID`  | `head`  | the trigger                    | `triggers#TENANT` |
 * | `trigger#ID`  | `index` | type and match fields          | `triggers#TYPE`   |
 *
 * The `index` items let the scheduler restore every cron trigger and an
 * upload find its triggers without a table scan.
 */

export type TriggerType = 'cron' | 's3';

export interface CronTrigger {
  /** As given (any syntax of schedules/schedule.ts). */
  expression: string;
  /** The EventBridge Scheduler form. */
  awsExpression: string;
  timezone: string;
  start?: string;
  end?: string;
}

export interface UploadTrigger {
  prefix: string;
  suffix?: string;
}

export interface Trigger {
  id: string;
  tenant: string;
  /** The canonical flow its executions run. */
  flowId: string;
  /** Who starts them: `engine`, or the dialect that registered a starter. */
  starter: string;
  /** What the starter is given: the flow id, or the dialect's own reference (a Rill descriptor id). */
  target: string;
  type: TriggerType;
  cron?: CronTrigger;
  s3?: UploadTrigger;
  /** The start context of every execution (an upload adds `s3`). */
  context: JsonObject;
  enabled: boolean;
  createdAt: string;
  /** Latest scheduled time fired; a restarted local scheduler catches up from here. */
  lastFiredFor?: string;
  /** When it was last turned back on: runs missed while it was off are never caught up. */
  enabledAt?: string;
}

interface TriggerIndex {
  triggerId: string;
  tenant: string;
  prefix?: string;
  suffix?: string;
}

/** An object the files bucket reports as created. */
export interface UploadedObject {
  bucket: string;
  /** The key as stored (already URL-decoded). */
  key: string;
  size: number;
  etag: string;
  /** S3's ordering token of events for one key; tells a new upload of the same bytes from a redelivery. */
  sequencer: string;
  eventTime: string;
}

export interface TriggerStart {
  trigger: Trigger;
  context: JsonObject;
  /** Identifies this firing: the same key must never start a second execution. */
  runKey: string;
  origin: TriggerOrigin;
}

/** Starts one execution for a firing and returns the execution id the starter's dialect shows. */
export type Starter = (start: TriggerStart) => Promise<string>;

export interface NewTrigger {
  tenant: string;
  flowId: string;
  starter?: string;
  target?: string;
  /** A dialect's own id (Rill numbers its trigger tasks); a UUID otherwise. */
  id?: string;
  type: TriggerType;
  cron?: { expression: string; timezone?: string; start?: string; end?: string };
  s3?: UploadTrigger;
  context?: JsonObject;
  enabled?: boolean;
}

export interface TriggerServiceDependencies {
  records: EngineRecords;
  executions: ExecutionService;
  scheduler: Scheduler;
  /** The files bucket uploads come from; events of other buckets are ignored. */
  bucket: string;
  now?: () => Date;
}

/** Where the engine keeps its own objects; uploads there are never user uploads. */
export const reservedPrefixes = ['executions/'] as const;

/** Most missed runs one trigger replays when catch-up is on. */
export const MAX_CATCH_UP = 10;

const headKey = (id: string): ItemKey => ({ partition: `trigger#${id}`, sort: 'head' });
const indexKey = (id: string): ItemKey => ({ partition: `trigger#${id}`, sort: 'index' });
const tenantCollection = (tenant: string) => `triggers#${tenant}`;
const typeCollection = (type: TriggerType) => `triggers#type#${type}`;

const invalid = (path: string, message: string): never => {
  const issues: ValidationIssue[] = [{ path, message }];
  throw validationFailed(message, issues);
};

export class TriggerService {
  readonly deps: TriggerServiceDependencies;
  private readonly starters = new Map<string, Starter>();

  constructor(deps: TriggerServiceDependencies) {
    this.deps = deps;
    this.starters.set('engine', async ({ trigger, context, runKey, origin }) => {
      const execution = await deps.executions.start(trigger.tenant, trigger.flowId, {
        parameters: context,
        executionId: uuidFromKey(runKey),
        trigger: origin,
      });
      return execution.id;
    });
  }

  /** A dialect that shows executions under its own ids starts its triggers' executions itself. */
  registerStarter(name: string, starter: Starter): void {
    this.starters.set(name, starter);
  }

  private now(): Date {
    return this.deps.now?.() ?? new Date();
  }

  /** Validates, stores and (for cron) schedules a trigger; nothing is left behind when a step fails. */
  async create(input: NewTrigger): Promise<Trigger> {
    const head = await this.deps.records.getFlowHead(input.flowId);
    if (!head || head.data.tenant !== input.tenant) throw notFound(`Flow ${input.flowId} does not exist`);
    const starter = input.starter ?? 'engine';
    if (!this.starters.has(starter)) throw new Error(`No trigger starter named ${starter}`);
    const trigger: Trigger = {
      id: input.id ?? randomUUID(),
      tenant: input.tenant,
      flowId: input.flowId,
      starter,
      target: input.target ?? input.flowId,
      type: input.type,
      context: input.context ?? {},
      enabled: input.enabled ?? true,
      createdAt: this.now().toISOString(),
    };
    if (input.type === 'cron') {
      if (!input.cron) return invalid('cron', 'A cron trigger needs a schedule expression');
      const schedule = parseSchedule(input.cron.expression, {
        ...(input.cron.timezone !== undefined ? { timezone: input.cron.timezone } : {}),
        ...(input.cron.start !== undefined ? { start: input.cron.start } : {}),
        ...(input.cron.end !== undefined ? { end: input.cron.end } : {}),
      });
      trigger.cron = {
        expression: schedule.expression.trim(),
        awsExpression: schedule.awsExpression,
        timezone: schedule.timezone,
        ...(schedule.start ? { start: schedule.start } : {}),
        ...(schedule.end ? { end: schedule.end } : {}),
      };
    } else {
      if (!input.s3) return invalid('prefix', 'An S3 trigger needs a key prefix');
      trigger.s3 = await this.checkUploadFilter(input.s3, input.tenant);
    }

    try {
      await this.deps.records.store.create({
        key: headKey(trigger.id),
        collection: { name: tenantCollection(trigger.tenant), order: `${trigger.createdAt}#${trigger.id}` },
        data: trigger,
      });
    } catch (error) {
      if (isDomainErrorOf(error, 'conflict')) throw conflict(`Trigger ${trigger.id} already exists`);
      throw error;
    }
    try {
      const index: TriggerIndex = {
        triggerId: trigger.id,
        tenant: trigger.tenant,
        ...(trigger.s3 ? { prefix: trigger.s3.prefix } : {}),
        ...(trigger.s3?.suffix ? { suffix: trigger.s3.suffix } : {}),
      };
      await this.deps.records.store.create({
        key: indexKey(trigger.id),
        collection: { name: typeCollection(trigger.type), order: `${trigger.createdAt}#${trigger.id}` },
        data: index,
      });
      if (trigger.type === 'cron') await this.deps.scheduler.put(scheduleEntryOf(trigger));
    } catch (error) {
      await this.forget(trigger.id);
      throw error;
    }
    return trigger;
  }

  /** A prefix (and optional suffix) that is not empty, not the engine's, and overlaps no other trigger's. */
  private async checkUploadFilter(filter: UploadTrigger, tenant: string): Promise<UploadTrigger> {
    const prefix = typeof filter.prefix === 'string' ? filter.prefix : '';
    const suffix = typeof filter.suffix === 'string' && filter.suffix !== '' ? filter.suffix : undefined;
    if (prefix.trim() === '') {
      invalid(
        'prefix',
        'The key prefix is empty: it would match every upload, including Sluice’s own objects',
      );
    }
    if (prefix.startsWith('/')) {
      invalid('prefix', `The key prefix "${prefix}" starts with "/": S3 keys have no leading slash`);
    }
    if (prefix.length > 1024 || (suffix?.length ?? 0) > 1024) {
      invalid('prefix', 'S3 keys are at most 1024 bytes, so longer prefixes and suffixes match nothing');
    }
    for (const reserved of reservedPrefixes) {
      if (prefix.startsWith(reserved) || reserved.startsWith(prefix)) {
        invalid(
          'prefix',
          `The key prefix "${prefix}" overlaps "${reserved}", where Sluice keeps its own objects`,
        );
      }
    }
    for (const other of await this.listIndex('s3')) {
      const otherPrefix = other.prefix ?? '';
      const prefixesOverlap = prefix.startsWith(otherPrefix) || otherPrefix.startsWith(prefix);
      const otherSuffix = other.suffix ?? '';
      const suffixesOverlap =
        !suffix || !otherSuffix || suffix.endsWith(otherSuffix) || otherSuffix.endsWith(suffix);
      if (prefixesOverlap && suffixesOverlap) {
        // Another tenant's trigger is neither named nor quoted to this one.
        const whose =
          other.tenant === tenant
            ? `trigger ${other.triggerId} (${otherPrefix}*${otherSuffix})`
            : 'an existing trigger';
        invalid(
          'prefix',
          `The key filter ${prefix}*${suffix ?? ''} overlaps ${whose}: ` +
            'one upload would start both, so S3 filters may not overlap',
        );
      }
    }
    return { prefix, ...(suffix ? { suffix } : {}) };
  }

  private listIndex(type: TriggerType): Promise<TriggerIndex[]> {
    return wholeCollection<TriggerIndex>(this.deps.records.store, typeCollection(type));
  }

  private async head(id: string): Promise<StoredItem<Trigger> | undefined> {
    return this.deps.records.store.get<Trigger>(headKey(id));
  }

  async get(tenant: string, id: string): Promise<Trigger> {
    const item = await this.head(id);
    if (!item || item.data.tenant !== tenant) throw notFound(`Trigger ${id} does not exist`);
    return item.data;
  }

  /** A tenant's triggers, oldest first, optionally of one flow (which must exist) or type. */
  async list(tenant: string, filter: { flowId?: string; type?: TriggerType } = {}): Promise<Trigger[]> {
    if (filter.flowId) {
      const head = await this.deps.records.getFlowHead(filter.flowId);
      if (head?.data.tenant !== tenant) throw notFound(`Flow ${filter.flowId} does not exist`);
    }
    const out = await wholeCollection<Trigger>(this.deps.records.store, tenantCollection(tenant));
    return out.filter(
      (trigger) =>
        (!filter.flowId || trigger.flowId === filter.flowId) &&
        (!filter.type || trigger.type === filter.type),
    );
  }

  /** Turns a trigger on or off; a cron trigger's schedule follows (and the record is restored if it cannot). */
  async setEnabled(tenant: string, id: string, enabled: boolean): Promise<Trigger> {
    const current = await this.get(tenant, id);
    if (current.enabled === enabled) {
      if (current.type === 'cron') await this.deps.scheduler.put(scheduleEntryOf(current));
      return current;
    }
    const next = await this.deps.records.mutate<Trigger>(headKey(id), (stored) => {
      if (!stored) throw notFound(`Trigger ${id} does not exist`);
      return { ...stored, enabled, ...(enabled ? { enabledAt: this.now().toISOString() } : {}) };
    });
    if (next.type === 'cron') {
      try {
        await this.deps.scheduler.put(scheduleEntryOf(next));
      } catch (error) {
        await this.updateIfPresent(id, (stored) => ({ ...stored, enabled: !enabled }));
        throw error;
      }
    }
    return next;
  }

  /** Deletes a trigger: its schedule first, so a failure leaves it whole rather than half-deleted. */
  async cancel(tenant: string, id: string): Promise<Trigger> {
    const trigger = await this.get(tenant, id);
    if (trigger.type === 'cron') await this.deps.scheduler.remove(id);
    await this.forget(id);
    return trigger;
  }

  /** Changes a stored trigger; one deleted meanwhile stays deleted. */
  private async updateIfPresent(id: string, change: (stored: Trigger) => Trigger): Promise<void> {
    try {
      await this.deps.records.mutate<Trigger>(headKey(id), (stored) => {
        if (!stored) throw notFound(`Trigger ${id} does not exist`);
        return change(stored);
      });
    } catch (error) {
      if (!isDomainErrorOf(error, 'not-found')) throw error;
    }
  }

  private async forget(id: string): Promise<void> {
    await this.deps.records.store.delete(indexKey(id));
    await this.deps.records.store.delete(headKey(id));
  }

  /** Cancels every trigger of a flow (the flow is being deleted). */
  async cancelAll(tenant: string, flowId: string): Promise<number> {
    const triggers = await this.list(tenant, { flowId });
    for (const trigger of triggers) await this.cancel(tenant, trigger.id);
    return triggers.length;
  }

  /**
   * A schedule fired: starts one execution for (trigger, scheduled time).
   * A repeated delivery of the same firing finds that execution and starts nothing.
   */
  async fire(event: ScheduledFire): Promise<{ executionId?: string; skipped?: string }> {
    const scheduled = new Date(event.scheduledTime);
    if (Number.isNaN(scheduled.getTime())) {
      invalid('scheduledTime', `Scheduled time "${event.scheduledTime}" is not an ISO 8601 timestamp`);
    }
    const item = await this.head(event.triggerId);
    // A schedule deleted (or disabled) while its event was on the way.
    if (item?.data.type !== 'cron') return { skipped: `trigger ${event.triggerId} does not exist` };
    if (!item.data.enabled) return { skipped: `trigger ${event.triggerId} is disabled` };
    const firedFor = scheduled.toISOString();
    const executionId = await this.startFor(item.data, item.data.context, fireKey(item.data.id, scheduled), {
      id: item.data.id,
      firedFor,
    });
    if (executionId === undefined)
      return { skipped: `the flow of trigger ${event.triggerId} is gone; trigger cancelled` };
    await this.updateIfPresent(item.data.id, (stored) =>
      !stored.lastFiredFor || stored.lastFiredFor < firedFor ? { ...stored, lastFiredFor: firedFor } : stored,
    );
    return { executionId };
  }

  /**
   * Objects created in the files bucket: each enabled S3 trigger whose filter
   * matches starts one execution per object version (bucket, key, ETag, sequencer).
   */
  async objectsCreated(objects: readonly UploadedObject[]): Promise<string[]> {
    const relevant = objects.filter((object) => object.bucket === this.deps.bucket);
    if (relevant.length === 0) return [];
    const filters = await this.listIndex('s3');
    const started: string[] = [];
    // One trigger failing must not keep the others from starting; the failure is raised
    // afterwards, so the event is delivered again (and what started, starts nothing new).
    const failures: unknown[] = [];
    for (const object of relevant) {
      for (const filter of filters) {
        if (!object.key.startsWith(filter.prefix ?? '\u0000')) continue;
        if (filter.suffix && !object.key.endsWith(filter.suffix)) continue;
        try {
          const item = await this.head(filter.triggerId);
          if (!item?.data.enabled) continue;
          const trigger = item.data;
          const s3 = {
            bucket: object.bucket,
            key: object.key,
            size: object.size,
            etag: object.etag,
            eventTime: object.eventTime,
          };
          const runKey = `${trigger.id}|${object.bucket}/${object.key}|${object.etag}|${object.sequencer}`;
          const executionId = await this.startFor(trigger, { ...trigger.context, s3 }, runKey, {
            id: trigger.id,
            firedFor: `s3://${object.bucket}/${object.key}`,
          });
          if (executionId !== undefined) started.push(executionId);
        } catch (error) {
          failures.push(error);
        }
      }
    }
    if (failures.length === 1) throw failures[0];
    if (failures.length > 1) throw new AggregateError(failures, `${failures.length} upload triggers failed`);
    return started;
  }

  /**
   * Starts one execution through the trigger's starter. A trigger whose flow
   * is gone (deleted while the trigger was being created) is cancelled
   * instead of failing at every fire time: undefined then.
   */
  private async startFor(
    trigger: Trigger,
    context: JsonObject,
    runKey: string,
    origin: TriggerOrigin,
  ): Promise<string | undefined> {
    const starter = this.starters.get(trigger.starter);
    if (!starter)
      throw new Error(`Trigger ${trigger.id} names the starter ${trigger.starter}, which is not registered`);
    const flow = await this.deps.records.getFlowHead(trigger.flowId);
    if (!flow || flow.data.tenant !== trigger.tenant) {
      await this.cancel(trigger.tenant, trigger.id);
      return undefined;
    }
    return starter({ trigger, context, runKey, origin });
  }

  /**
   * For a scheduler that forgets its schedules when the process ends (the
   * local one): puts every cron trigger back and, when `catchUp` > 0, first
   * fires up to that many runs each missed while it was down (oldest first).
   */
  async restoreSchedules(options: { catchUp?: number } = {}): Promise<{
    restored: number;
    caughtUp: number;
    failures: { triggerId: string; error: unknown }[];
  }> {
    const catchUp = Math.min(Math.max(0, Math.trunc(options.catchUp ?? 0)), MAX_CATCH_UP);
    let restored = 0;
    let caughtUp = 0;
    const failures: { triggerId: string; error: unknown }[] = [];
    for (const entry of await this.listIndex('cron')) {
      const item = await this.head(entry.triggerId);
      if (!item) continue;
      const trigger = item.data;
      // One trigger's failure (a replayed run that cannot start) must not keep the others unscheduled.
      try {
        if (catchUp > 0 && trigger.enabled && trigger.cron) {
          for (const time of missedFireTimes(scheduleOf(trigger), trigger, this.now(), catchUp)) {
            await this.fire({ triggerId: trigger.id, scheduledTime: time.toISOString() });
            caughtUp += 1;
          }
        }
      } catch (error) {
        failures.push({ triggerId: trigger.id, error });
      }
      try {
        await this.deps.scheduler.put(scheduleEntryOf(trigger));
        restored += 1;
      } catch (error) {
        failures.push({ triggerId: trigger.id, error });
      }
    }
    return { restored, caughtUp, failures };
  }
}

/**
 * Where a schedule counts from: its `start`, or for rate() schedules without
 * one the trigger's creation, as EventBridge Scheduler counts a rate from
 * when the schedule is created.
 */
function anchorOf(trigger: Trigger): string | undefined {
  const cron = trigger.cron;
  if (cron?.start) return cron.start;
  return cron?.awsExpression.startsWith('rate(') ? trigger.createdAt : undefined;
}

export function scheduleOf(trigger: Trigger): Schedule {
  const cron = trigger.cron;
  if (!cron) throw new Error(`Trigger ${trigger.id} has no schedule`);
  const start = anchorOf(trigger);
  return parseSchedule(cron.awsExpression, {
    timezone: cron.timezone,
    ...(start ? { start } : {}),
    ...(cron.end ? { end: cron.end } : {}),
  });
}

/** The next `count` fire times of a cron trigger after `after` (none for an S3 trigger). */
export function nextFireTimes(trigger: Trigger, after: Date, count: number): string[] {
  if (!trigger.cron || !trigger.enabled) return [];
  return scheduleOf(trigger)
    .nextFireTimes(after, count)
    .map((time) => time.toISOString());
}

/** The last `limit` fire times up to `now` since the trigger last fired, was re-enabled or was created. */
function missedFireTimes(schedule: Schedule, trigger: Trigger, now: Date, limit: number): Date[] {
  const since = [trigger.createdAt, trigger.lastFiredFor, trigger.enabledAt].filter(
    (time): time is string => time !== undefined,
  );
  let after = new Date(Math.max(...since.map((time) => Date.parse(time))));
  const kept: Date[] = [];
  // Pages of fire times, bounded: a schedule down for years must not loop for long.
  for (let page = 0; page < 100; page += 1) {
    const times = schedule.nextFireTimes(after, 1000).filter((time) => time.getTime() <= now.getTime());
    kept.push(...times);
    kept.splice(0, Math.max(0, kept.length - limit));
    const last = times.at(-1);
    if (times.length < 1000 || !last) break;
    after = last;
  }
  return kept;
}

function scheduleEntryOf(trigger: Trigger): ScheduleEntry {
  const cron = trigger.cron;
  if (!cron) throw new Error(`Trigger ${trigger.id} has no schedule`);
  const start = anchorOf(trigger);
  return {
    triggerId: trigger.id,
    expression: cron.awsExpression,
    timezone: cron.timezone,
    ...(start ? { start } : {}),
    ...(cron.end ? { end: cron.end } : {}),
    enabled: trigger.enabled,
  };
}
