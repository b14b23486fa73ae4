import { parseSchedule, type Schedule } from '../../core/schedules/schedule.ts';
import type { ScheduledFire, ScheduleEntry, Scheduler } from '../../ports/scheduler.ts';

/** setTimeout's longest delay (about 24.8 days); longer waits re-arm on expiry. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface LocalSchedulerOptions {
  /** The entry point a schedule fires: the same handler EventBridge Scheduler invokes on AWS. */
  deliver: (event: ScheduledFire) => Promise<void>;
  /** Told when a delivery fails (the next fire time is armed regardless, as on AWS). */
  onError?: (event: ScheduledFire, error: unknown) => void;
  now?: () => number;
}

interface Armed {
  entry: ScheduleEntry;
  schedule: Schedule;
  timer?: NodeJS.Timeout;
  /** The fire time the timer waits for. */
  next?: Date;
}

/**
 * EventBridge Scheduler's local stand-in: one timer per enabled schedule,
 * computing fire times with the same schedule model (schedules/schedule.ts),
 * so a schedule fires at the same instants locally and on AWS. It keeps
 * nothing on disk; the local runtime restores schedules from the triggers
 * when it starts (TriggerService.restoreSchedules).
 */
export class LocalScheduler implements Scheduler {
  readonly options: LocalSchedulerOptions;
  private readonly armed = new Map<string, Armed>();
  private readonly deliveries = new Set<Promise<void>>();
  private stopped = false;

  constructor(options: LocalSchedulerOptions) {
    this.options = options;
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  async put(entry: ScheduleEntry): Promise<void> {
    const schedule = parseSchedule(entry.expression, {
      timezone: entry.timezone,
      ...(entry.start ? { start: entry.start } : {}),
      ...(entry.end ? { end: entry.end } : {}),
    });
    this.disarm(entry.triggerId);
    const armed: Armed = { entry, schedule };
    this.armed.set(entry.triggerId, armed);
    if (entry.enabled) this.arm(armed, this.now());
  }

  async remove(triggerId: string): Promise<void> {
    this.disarm(triggerId);
    this.armed.delete(triggerId);
  }

  /** Schedules currently armed with their next fire time (what a test or an operator inspects). */
  pending(): { triggerId: string; next: string }[] {
    return [...this.armed.values()].flatMap(({ entry, timer, next }) =>
      timer && next ? [{ triggerId: entry.triggerId, next: next.toISOString() }] : [],
    );
  }

  /** Stops every timer and waits for deliveries under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const id of this.armed.keys()) this.disarm(id);
    await Promise.allSettled([...this.deliveries]);
  }

  private disarm(triggerId: string): void {
    const armed = this.armed.get(triggerId);
    if (armed?.timer) clearTimeout(armed.timer);
    if (armed) {
      delete armed.timer;
      delete armed.next;
    }
  }

  /** Arms the timer for the first fire time after `after` (milliseconds). */
  private arm(armed: Armed, after: number): void {
    if (this.stopped) return;
    const [next] = armed.schedule.nextFireTimes(new Date(after), 1);
    if (!next) {
      // The schedule has ended: nothing is pending any more.
      delete armed.timer;
      delete armed.next;
      return;
    }
    const wait = next.getTime() - this.now();
    armed.next = next;
    armed.timer = setTimeout(
      () => {
        if (this.armed.get(armed.entry.triggerId) !== armed) return;
        if (next.getTime() > this.now()) {
          // A wait longer than one timer allows: re-arm for the same instant.
          this.arm(armed, next.getTime() - 1);
          return;
        }
        this.fire(armed, next);
        this.arm(armed, next.getTime());
      },
      Math.min(Math.max(wait, 0), MAX_TIMER_MS),
    );
    // Schedules never keep the process alive on their own.
    armed.timer.unref();
  }

  private fire(armed: Armed, scheduled: Date): void {
    const event: ScheduledFire = { triggerId: armed.entry.triggerId, scheduledTime: scheduled.toISOString() };
    // A delivery that throws, synchronously or not, or an error reporter that throws, never
    // stops the schedule or escapes as an unhandled rejection.
    const delivery = Promise.resolve()
      .then(() => this.options.deliver(event))
      .catch((error: unknown) => {
        try {
          this.options.onError?.(event, error);
        } catch {
          // nothing left to tell
        }
      })
      .finally(() => this.deliveries.delete(delivery));
    this.deliveries.add(delivery);
  }
}
