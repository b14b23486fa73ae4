import type { ExecutionView } from '../core/engine/executions.ts';
import type { ExecutionRecord } from '../core/engine/records.ts';
import { nextFireTimes, type Trigger } from '../core/triggers/service.ts';

/** The native API's view of an execution: public fields only (no state machine reference or tokens). */
export function executionBody(execution: ExecutionRecord, view?: ExecutionView) {
  const { stateMachine: _internal, tenant: _tenant, ...visible } = execution;
  if (!view) return visible;
  return {
    ...visible,
    progress: view.progress,
    tasks: view.runs.map(({ task, status, attempts, startedAt, endedAt, output, error }) => ({
      task,
      status,
      attempts,
      ...(startedAt ? { startedAt } : {}),
      ...(endedAt ? { endedAt } : {}),
      ...(output !== undefined ? { output } : {}),
      ...(error ? { error } : {}),
    })),
  };
}

/** The native API's view of a trigger; `bucket` is where uploads start an S3 trigger. */
export function triggerBody(trigger: Trigger, bucket: string, now = new Date()) {
  const { cron, s3 } = trigger;
  return {
    id: trigger.id,
    flowId: trigger.flowId,
    type: trigger.type,
    ...(cron
      ? {
          schedule: cron.expression,
          awsExpression: cron.awsExpression,
          timezone: cron.timezone,
          ...(cron.start ? { start: cron.start } : {}),
          ...(cron.end ? { end: cron.end } : {}),
          nextFireTimes: nextFireTimes(trigger, now, 3),
        }
      : {}),
    ...(s3 ? { bucket, prefix: s3.prefix, ...(s3.suffix ? { suffix: s3.suffix } : {}) } : {}),
    parameters: trigger.context,
    enabled: trigger.enabled,
    createdAt: trigger.createdAt,
    ...(trigger.lastFiredFor ? { lastFiredFor: trigger.lastFiredFor } : {}),
  };
}
