/**
 * Scheduler port: keeps one recurring schedule per cron trigger and, at each
 * fire time, delivers a `ScheduledFire` to the entry point that starts the
 * flow (lambdas/handlers/fire-trigger.ts). EventBridge Scheduler on AWS, an
 * in-process timer locally; both deliver the same event.
 */

/** The event a schedule delivers: which trigger, for which scheduled instant. */
export interface ScheduledFire {
  triggerId: string;
  /** ISO 8601 (UTC) fire time the schedule computed, not the delivery time. */
  scheduledTime: string;
}

export interface ScheduleEntry {
  /** The trigger id; unique among schedules. */
  triggerId: string;
  /** `cron(...)` or `rate(...)` as EventBridge Scheduler accepts it. */
  expression: string;
  /** IANA time zone the cron fields are read in. */
  timezone: string;
  /** ISO bounds: no fire before `start`, none at or after `end`. */
  start?: string;
  end?: string;
  /** A disabled schedule stays defined but does not fire. */
  enabled: boolean;
}

export interface Scheduler {
  /** Creates the schedule or replaces its definition. */
  put(entry: ScheduleEntry): Promise<void>;
  /** Deletes the schedule; deleting a missing one is not an error. */
  remove(triggerId: string): Promise<void>;
}
