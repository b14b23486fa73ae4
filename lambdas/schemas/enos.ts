import { z } from 'zod';

/**
 * EnOS batch processing (seed 004, `/dataflow-batch-service/v2.0/...`). Every
 * call names the user and organisation and an `action` in the query; the body
 * shape depends on the action.
 */

const id = z.string().trim().min(1);
const caller = {
  userId: id.describe('用户ID'),
  orgId: id.describe('用户所属的组织ID'),
};
const flowIdField = z.coerce.number().int().positive();

export const flowsPostQuery = z.object({
  ...caller,
  action: z.enum(['import', 'search', 'enable', 'disable', 'trigger', 'updateAndTrigger']),
});
export const flowsGetQuery = z.object({
  ...caller,
  action: z.enum(['export', 'get', 'getMyFlow', 'delete']),
  flowId: flowIdField.optional(),
  searchValue: z.string().optional(),
});
export const flowInstancesPostQuery = z.object({ ...caller, action: z.enum(['search', 'cancel']) });
export const flowInstancesGetQuery = z.object({
  ...caller,
  action: z.enum(['get']),
  flowInstId: id.optional(),
});
export const taskInstancesQuery = z.object({
  ...caller,
  action: z.enum(['getLog']),
  taskInstId: id,
  maxLength: z.coerce.number().int().min(1).optional(),
});
export const directoriesGetQuery = z.object({ ...caller, action: z.enum(['listWorkFlowDirs']) });
export const directoriesPostQuery = z.object({ ...caller, action: z.enum(['create']) });

/** Any JSON object; the action's schema below parses it. */
export const actionBody = z.record(z.string(), z.unknown()).optional();

/** The whole Flow structure, as an object or (as some clients send it) a JSON string. */
const flowJsonField = z.union([
  z.record(z.string(), z.unknown()),
  z.string().transform((text, context) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      context.addIssue({ code: 'custom', message: 'flowJson is not valid JSON' });
      return z.NEVER;
    }
  }),
]);

export const importBody = z.object({
  flowId: flowIdField.optional(),
  flowName: z.string().trim().min(1).max(255),
  desc: z.string().max(4000).optional(),
  dirId: id,
  flowJson: flowJsonField,
});

const pagination = z
  .object({
    pageNo: z.coerce.number().int().min(0).default(0),
    pageSize: z.coerce.number().int().min(1).max(1000).default(100),
    sorters: z
      .array(z.object({ field: z.string(), order: z.enum(['ASC', 'DESC', 'asc', 'desc']).optional() }))
      .optional(),
  })
  .optional();

export const searchFlowsBody = z.object({ expression: z.string().optional(), pagination });
export const flowIdBody = z.object({ flowId: flowIdField });
export const triggerBody = z.object({
  flowId: flowIdField,
  triggerTime: z.coerce.number().int().min(0).optional(),
});
export const updateAndTriggerBody = triggerBody.extend({ parameters: z.unknown() });

const instanceTypeNames = { manual: 0, periodic: 1, temporary: 2 } as const;
export const searchInstancesBody = z.object({
  type: z
    .union([z.coerce.number().int().min(0).max(2), z.enum(['manual', 'periodic', 'temporary'])])
    .transform((value) => (typeof value === 'number' ? value : instanceTypeNames[value]))
    .optional(),
  expression: z.string().optional(),
  owner: z.string().optional(),
  fromTriggerTime: z.coerce.number().int().optional(),
  toTriggerTime: z.coerce.number().int().optional(),
  status: z
    .union([z.string(), z.array(z.coerce.number().int())])
    .transform((value, context) => {
      const list = Array.isArray(value)
        ? value
        : value
            .split(',')
            .filter((part) => part.trim() !== '')
            .map(Number);
      if (list.some((code) => !Number.isInteger(code) || code < -1 || code > 10)) {
        context.addIssue({ code: 'custom', message: 'status must be codes from -1 to 10, comma-separated' });
        return z.NEVER;
      }
      return list;
    })
    .optional(),
  pagination,
});
export const cancelInstanceBody = z.object({ flowInstId: id });
export const createDirectoryBody = z.object({
  parentId: z.string().optional(),
  dirName: z.string().optional(),
});

export const enosResult = z.unknown().meta({ id: 'EnosData' });
