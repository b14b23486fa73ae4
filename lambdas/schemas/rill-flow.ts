import { z } from 'zod';

/**
 * Rill Flow (seed 003). Query values arrive URL-decoded and are trimmed: the
 * seed's own curl example sends `business_id=demoFlowTest ` with a space.
 */
const name = z.string().trim().min(1);
const booleanFlag = z
  .enum(['true', 'false', '1', '0'])
  .transform((value) => value === 'true' || value === '1')
  .default(false);

export const addDescriptorQuery = z.object({
  business_id: name.describe('工作流业务ID'),
  feature_name: name.describe('工作流服务名称'),
  alias: name.default('release').describe('工作流别名'),
});
export const descriptorYaml = z.string().min(1, 'the request body must be the YAML descriptor');
export const addDescriptorResult = z
  .object({ ret: z.boolean(), descriptor_id: z.string() })
  .meta({ id: 'RillAddDescriptorResult' });

export const descriptorIdQuery = z.object({
  descriptor_id: name.describe('工作流ID business:feature[:alias]'),
});
export const descriptorView = z
  .object({ descriptor_id: z.string(), uid: z.string(), descriptor: z.string() })
  .meta({ id: 'RillDescriptor' });

export const submitQuery = z.object({
  descriptor_id: name.describe('工作流ID'),
  callback: z.string().trim().url().optional().describe('执行完成后的回调地址'),
  resource_check: z.string().optional().describe('资源检测规则'),
});
export const submitContext = z.record(z.string(), z.unknown()).optional().describe('工作流执行的context信息');
export const submitResult = z.object({ execution_id: z.string() }).meta({ id: 'RillSubmitResult' });

/** The seed names them executionId/taskName; Rill Flow itself reads execution_id/task_name: both are accepted. */
export const taskCallbackQuery = z
  .object({
    executionId: name.optional(),
    taskName: name.optional(),
    execution_id: name.optional(),
    task_name: name.optional(),
  })
  .refine((q) => (q.executionId ?? q.execution_id) !== undefined, {
    message: 'executionId is required',
    path: ['executionId'],
  })
  .refine((q) => (q.taskName ?? q.task_name) !== undefined, {
    message: 'taskName is required',
    path: ['taskName'],
  });
export const finishBody = z
  .object({
    result_type: z.enum(['SUCCESS', 'FAIL', 'FAILED', 'success', 'fail', 'failed']).default('SUCCESS'),
    passthrough: z.record(z.string(), z.unknown()).optional(),
    response: z.record(z.string(), z.unknown()).optional(),
  })
  .passthrough()
  .default({ result_type: 'SUCCESS' });
/** trigger.json: a task's trigger URL, called by GET or POST; `status` and `context` may ride in the query. */
export const triggerQuery = z.object({
  execution_id: name,
  task_name: name,
  status: z.string().trim().toUpperCase().optional().describe('SUCCESS (default) or FAIL'),
  context: z
    .string()
    .optional()
    .transform((text, ctx) => {
      if (text === undefined) return undefined;
      try {
        const parsed: unknown = JSON.parse(text);
        if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed))
          return parsed as Record<string, unknown>;
      } catch {
        // reported below
      }
      ctx.addIssue({ code: 'custom', message: 'context must be a JSON object' });
      return z.NEVER;
    }),
});
export const wakeupBody = z.record(z.string(), z.unknown()).optional();
export const okResult = z.object({ result: z.literal('ok') }).meta({ id: 'RillOk' });

export const executionQuery = z.object({
  execution_id: name.describe('工作流执行ID'),
  brief: booleanFlag.describe('true: 只返回工作流本身执行情况'),
});
export const executionContextQuery = z.object({ execution_id: name });
export const executionView = z
  .object({
    ret: z.object({
      execution_id: z.string(),
      dag_status: z.enum(['NOT_STARTED', 'RUNNING', 'SUCCEED', 'FAILED']),
      process: z.number().int().min(0).max(100),
      tasks: z.record(z.string(), z.unknown()).optional(),
    }),
  })
  .meta({ id: 'RillExecution' });

export const descriptorIdsQuery = z.object({
  current: z.coerce.number().int().min(1).default(1),
  pageSize: z.coerce.number().int().min(1).max(1000).default(50),
});
export const executionIdsQuery = z.object({
  service_id: name.describe('business:feature'),
  page: z.coerce.number().int().min(1).default(1),
  count: z.coerce.number().int().min(1).max(1000).default(20),
});

export const sampleStartInput = z.object({ left: z.coerce.number(), right: z.coerce.number() });
export const sampleEndInput = z.object({
  result_number: z.coerce.number(),
  expect_number: z.coerce.number(),
});

/** The trigger family: Rill Flow's `cron`, and `s3` (uploads to Sluice's files bucket). */
const triggerType = z.enum(['cron', 's3']).describe('触发器类型: cron 或 s3');

export const addTriggerQuery = z.object({
  type: triggerType,
  descriptor_id: name.describe('工作流ID'),
  callback: z.string().trim().url().optional().describe('每次执行完成后的回调地址'),
  resource_check: z.string().optional().describe('资源检测规则'),
});
export const addTriggerBody = z
  .record(z.string(), z.unknown())
  .default({})
  .describe(
    'cron: {"cron": "0 * * * * *", "context": {...}}; s3: {"prefix": "in/", "suffix": ".csv", "context": {...}}',
  );
export const triggerResult = z
  .object({
    code: z.number().int(),
    data: z.record(z.string(), z.unknown()).optional(),
    err_msg: z.string().optional(),
    message: z.string().optional(),
  })
  .meta({ id: 'RillTriggerResult' });
export const cancelTriggerQuery = z.object({
  type: triggerType,
  task_id: name.describe('add_trigger 返回的 task_id'),
});
export const triggerTasksQuery = z.object({ type: triggerType });

export const redoQuery = z.object({
  execution_id: name.describe('执行ID'),
  task_names: z
    .string()
    .optional()
    .transform((value) =>
      (value ?? '')
        .split(',')
        .map((task) => task.trim())
        .filter(Boolean),
    )
    .describe('逗号分隔的任务名; 缺省时重跑未成功的任务'),
});
