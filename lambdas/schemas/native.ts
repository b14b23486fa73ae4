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
