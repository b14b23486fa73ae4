import {
  CreateScheduleCommand,
  type CreateScheduleInput,
  DeleteScheduleCommand,
  type SchedulerClient,
  UpdateScheduleCommand,
} from '@aws-sdk/client-scheduler';
import { validationFailed } from '../../core/errors.ts';
import type { ScheduleEntry, Scheduler } from '../../ports/scheduler.ts';

export interface EventBridgeSchedulerOptions {
  client: SchedulerClient;
  /** Sluice's one schedule group. */
  groupName: string;
  /** The function every schedule invokes (lambdas/handlers/fire-trigger.ts). */
  targetArn: string;
  /** The role EventBridge Scheduler assumes: it may invoke that function and nothing else. */
  roleArn: string;
  now?: () => number;
}

/**
 * EventBridge Scheduler substitutes this with the scheduled time (not the
 * delivery time), so a retried delivery carries the same instant and the
 * trigger starts no second execution.
 */
export const scheduledTimeAttribute = '<aws.scheduler.scheduled-time>';

const errorName = (error: unknown): string | undefined => (error instanceof Error ? error.name : undefined);

/** Schedule names allow [0-9a-zA-Z-_.] and 64 characters; trigger ids (UUIDs, numbers) fit. */
export const scheduleNameOf = (triggerId: string): string => `trigger-${triggerId}`;

/** The Scheduler port on Amazon EventBridge Scheduler: one schedule per cron trigger. */
export class EventBridgeScheduler implements Scheduler {
  readonly options: EventBridgeSchedulerOptions;
  constructor(options: EventBridgeSchedulerOptions) {
    this.options = options;
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  private input(entry: ScheduleEntry): CreateScheduleInput {
    // A schedule whose end has passed fires no more: kept disabled, without the past EndDate AWS would refuse.
    const ended = entry.end !== undefined && Date.parse(entry.end) <= this.now();
    return {
      Name: scheduleNameOf(entry.triggerId),
      GroupName: this.options.groupName,
      ScheduleExpression: entry.expression,
      ScheduleExpressionTimezone: entry.timezone,
      // EventBridge Scheduler refuses a StartDate more than 5 minutes in the past; once passed it
      // no longer bounds anything (a rate counts from the schedule's creation either way).
      ...(entry.start && Date.parse(entry.start) > this.now() ? { StartDate: new Date(entry.start) } : {}),
      ...(entry.end && !ended ? { EndDate: new Date(entry.end) } : {}),
      State: entry.enabled && !ended ? 'ENABLED' : 'DISABLED',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Description: `Sluice cron trigger ${entry.triggerId}`,
      Target: {
        Arn: this.options.targetArn,
        RoleArn: this.options.roleArn,
        Input: JSON.stringify({ triggerId: entry.triggerId, scheduledTime: scheduledTimeAttribute }),
        // A delivery that fails is retried for up to a day; the fire handler is idempotent.
        RetryPolicy: { MaximumEventAgeInSeconds: 86_400, MaximumRetryAttempts: 185 },
      },
    };
  }

  /**
   * UpdateSchedule replaces the whole definition; a schedule that does not
   * exist yet is created. What AWS refuses as invalid (an expression or time
   * zone the local model accepted) is a validation error, not a fault.
   */
  async put(entry: ScheduleEntry): Promise<void> {
    try {
      await this.upsert(this.input(entry));
    } catch (error) {
      if (errorName(error) === 'ValidationException') {
        const message = error instanceof Error ? error.message : String(error);
        throw validationFailed(`EventBridge Scheduler refused the schedule: ${message}`, [
          { path: 'schedule', message },
        ]);
      }
      throw error;
    }
  }

  private async upsert(input: CreateScheduleInput): Promise<void> {
    try {
      await this.options.client.send(new UpdateScheduleCommand(input));
    } catch (error) {
      if (errorName(error) !== 'ResourceNotFoundException') throw error;
      try {
        await this.options.client.send(new CreateScheduleCommand(input));
      } catch (createError) {
        // Created concurrently: replace it with this definition.
        if (errorName(createError) !== 'ConflictException') throw createError;
        await this.options.client.send(new UpdateScheduleCommand(input));
      }
    }
  }

  async remove(triggerId: string): Promise<void> {
    try {
      await this.options.client.send(
        new DeleteScheduleCommand({ Name: scheduleNameOf(triggerId), GroupName: this.options.groupName }),
      );
    } catch (error) {
      if (errorName(error) !== 'ResourceNotFoundException') throw error;
    }
  }
}
