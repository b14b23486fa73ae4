import { z } from 'zod';
import { executionStatuses, flowDescriptorSchema, logLevels, taskRunStatuses } from '../core/flow/model.ts';

/** Sluice's own API (`/v1`). Tenancy: the `x-sluice-tenant` header (default `default`). */

const pageQuery = {
  limit: z.coerce.number().int().min(1).max(1000).default(50).describe('Items per page (1–1000)'),
  cursor: z.string().min(1).optional().describe('From the previous page’s `cursor`'),
};

export const flowIdPath = z.object({ flowId: z.string().min(1).max(200) });
export const executionIdPath = z.object({ executionId: z.string().min(1).max(200) });

export const flowVersionQuery = z.object({
  version: z.coerce.number().int().min(1).optional().describe('A stored version; the latest by default'),
});
export const listFlowsQuery = z.object(pageQuery);

export const flowView = z
  .object({
    id: z.string(),
    version: z.number().int(),
    tenant: z.string(),
    descriptor: flowDescriptorSchema,
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'Flow' });

export const flowSummary = z
  .object({
    id: z.string(),
    tenant: z.string(),
    name: z.string(),
    latestVersion: z.number().int(),
    createdAt: z.string(),
  })
  .meta({ id: 'FlowSummary' });

export const flowPage = z
  .object({ items: z.array(flowSummary), cursor: z.string().optional() })
  .meta({ id: 'FlowPage' });

export const validationReport = z
  .object({ valid: z.literal(true), states: z.number().int(), definitionBytes: z.number().int() })
  .meta({ id: 'ValidationReport' });

export const aslDocument = z.record(z.string(), z.unknown()).meta({ id: 'AslDefinition' });

export const startExecutionBody = z
  .object({
    parameters: z
      .record(z.string(), z.unknown())
      .default({})
      .describe('Merged over the flow’s parameter defaults'),
    executionId: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,80}$/, 'letters, digits, "-" and "_" (it names the Step Functions execution)')
      .optional()
      .describe('Client token: starting the same id twice starts one execution'),
    version: z.number().int().min(1).optional(),
  })
  .default({ parameters: {} });

const executionError = z.object({ task: z.string().optional(), error: z.string(), cause: z.string() });

export const executionView = z
  .object({
    id: z.string(),
    flowId: z.string(),
    flowVersion: z.number().int(),
    status: z.enum(executionStatuses),
    parameters: z.record(z.string(), z.unknown()),
    startedAt: z.string(),
    endedAt: z.string().optional(),
    error: executionError.optional(),
    trigger: z
      .object({
        id: z.string(),
        firedFor: z.string().describe('The scheduled time (cron) or s3://bucket/key (upload)'),
      })
      .optional()
      .describe('Set when a trigger started the execution'),
    rerunOf: z.string().optional().describe('The execution this one re-runs'),
    progress: z.number().int().min(0).max(100).optional(),
    tasks: z
      .array(
        z.object({
          task: z.string(),
          status: z.enum(taskRunStatuses),
          attempts: z.number().int(),
          startedAt: z.string().optional(),
          endedAt: z.string().optional(),
          output: z.unknown().optional(),
          error: z.object({ error: z.string(), cause: z.string() }).optional(),
        }),
      )
      .optional(),
  })
  .meta({ id: 'Execution' });

export const listExecutionsQuery = z.object({
  ...pageQuery,
  flowId: z.string().optional(),
  status: z.enum(executionStatuses).optional(),
  from: z.iso.datetime({ offset: true }).optional().describe('Started at or after'),
  to: z.iso.datetime({ offset: true }).optional().describe('Started at or before'),
});

export const executionPage = z
  .object({ items: z.array(executionView), cursor: z.string().optional() })
  .meta({ id: 'ExecutionPage' });

export const contextView = z.record(z.string(), z.unknown()).meta({ id: 'ExecutionContext' });

export const rerunBody = z
  .object({
    tasks: z
      .array(z.string().min(1))
      .optional()
      .describe(
        'Top-level tasks to run again with everything downstream; default: those that did not succeed',
      ),
    parameters: z.record(z.string(), z.unknown()).optional().describe('Merged into the copied context'),
  })
  .default({});

export const stopBody = z.object({ cause: z.string().max(1000).optional() }).default({});

export const logsQuery = z.object({
  ...pageQuery,
  level: z.enum(logLevels).optional().describe('Minimum level'),
  task: z.string().optional(),
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
  keyword: z.string().min(1).max(200).optional().describe('Case-insensitive substring of the message'),
});

export const logPage = z
  .object({
    items: z.array(
      z.object({
        timestamp: z.string(),
        level: z.enum(logLevels),
        logger: z.string(),
        task: z.string().optional(),
        message: z.string(),
      }),
    ),
    cursor: z.string().optional(),
  })
  .meta({ id: 'LogPage' });

export const completeTaskBody = z.object({ token: z.string().min(1), output: z.unknown().optional() });
export const failTaskBody = z.object({
  token: z.string().min(1),
  error: z.string().min(1).max(256).default('Sluice.TaskFailed'),
  cause: z.string().max(32_000).default(''),
});
export const heartbeatBody = z.object({ token: z.string().min(1) });
export const tokenOutcome = z
  .object({ delivered: z.boolean(), reason: z.string().optional() })
  .meta({ id: 'CallbackOutcome' });

export const triggerIdPath = z.object({ triggerId: z.string().min(1).max(200) });

const triggerParameters = z
  .record(z.string(), z.unknown())
  .default({})
  .describe(
    'Start parameters of every execution (an upload adds `s3: {bucket, key, size, etag, eventTime}`)',
  );

export const createTriggerBody = z
  .discriminatedUnion('type', [
    z.object({
      type: z.literal('cron'),
      schedule: z
        .string()
        .min(1)
        .describe(
          'Unix 5-field (`0 2 * * *`), 6-field with seconds (`0 * * * * *`), Quartz 7-field (`0 0 0 * * ? *`), ' +
            'or AWS `cron(...)`/`rate(...)`; at most once a minute',
        ),
      timezone: z.string().min(1).optional().describe('IANA time zone of the cron fields; UTC by default'),
      start: z.iso.datetime({ offset: true }).optional().describe('No run before this instant'),
      end: z.iso.datetime({ offset: true }).optional().describe('No run at or after this instant'),
      parameters: triggerParameters,
      enabled: z.boolean().default(true),
    }),
    z.object({
      type: z.literal('s3'),
      prefix: z.string().describe('Key prefix in the files bucket; not empty, overlapping no other trigger'),
      suffix: z.string().optional().describe('Key suffix, e.g. `.csv`'),
      parameters: triggerParameters,
      enabled: z.boolean().default(true),
    }),
  ])
  .meta({ id: 'NewTrigger' });

export const updateTriggerBody = z.object({ enabled: z.boolean() }).meta({ id: 'TriggerUpdate' });

export const triggerView = z
  .object({
    id: z.string(),
    flowId: z.string(),
    type: z.enum(['cron', 's3']),
    schedule: z.string().optional(),
    awsExpression: z.string().optional().describe('The EventBridge Scheduler expression it runs as'),
    timezone: z.string().optional(),
    start: z.string().optional(),
    end: z.string().optional(),
    bucket: z.string().optional().describe('Where uploads start it (S3 triggers)'),
    prefix: z.string().optional(),
    suffix: z.string().optional(),
    parameters: z.record(z.string(), z.unknown()),
    enabled: z.boolean(),
    createdAt: z.string(),
    lastFiredFor: z.string().optional(),
    nextFireTimes: z.array(z.string()).optional().describe('The next three runs (cron, when enabled)'),
  })
  .meta({ id: 'Trigger' });

export const triggerList = z.object({ items: z.array(triggerView) }).meta({ id: 'TriggerList' });
