import { z } from 'zod';

/**
 * The canonical flow model: every dialect translates its documents into a
 * `FlowDescriptor`, and the compiler turns one into Amazon States Language.
 * Task-to-task data moves through a per-execution *context* (a JSON object
 * kept outside the state payload) with Rill Flow–style mappings.
 */

const taskName = z
  .string()
  .min(1)
  .max(80)
  .regex(
    /^[A-Za-z0-9_][A-Za-z0-9_-]*$/,
    'use letters, digits, "_" and "-" (and start with a letter, digit or "_")',
  );

/** A JSONPath into `$.context`, `$.input`, `$.output` (or `$.item` inside a foreach). */
const jsonPath = z.string().regex(/^\$(\.|\[|$)/, 'must be a JSONPath starting with "$"');

export const mappingSchema = z
  .object({
    /** Where the value comes from: a JSONPath, or absent when `value` gives a constant. */
    source: jsonPath.optional(),
    /** A constant, used when `source` is absent (or when it finds nothing and `tolerance` is set). */
    value: z.unknown().optional(),
    target: jsonPath,
    /** A missing source is skipped instead of failing the task. */
    tolerance: z.boolean().optional(),
  })
  .refine((m) => m.source !== undefined || m.value !== undefined, {
    message: 'a mapping needs a source or a constant value',
  })
  .meta({ id: 'Mapping' });

export const retrySchema = z
  .object({
    /** Attempts after the first one. */
    maxRetries: z.number().int().min(0).max(99),
    intervalSeconds: z.number().int().min(0).max(86_400).default(1),
    backoffRate: z.number().min(1).max(10).default(1),
  })
  .meta({ id: 'RetryPolicy' });

const common = {
  name: taskName,
  description: z.string().max(2000).optional(),
  /** Names of the tasks that must finish first. */
  dependsOn: z.array(taskName).default([]),
  /**
   * When the task runs once every upstream has finished: `all` (default) only
   * if none of them was skipped (or disabled this edge); `any` if at least one
   * of them ran, so it merges the branches of a choice (Airflow's
   * none_failed_min_one_success, Rill Flow's joins).
   */
  join: z.enum(['all', 'any']).default('all'),
  input: z.array(mappingSchema).default([]),
  output: z.array(mappingSchema).default([]),
  retry: retrySchema.optional(),
  timeoutSeconds: z.number().int().min(1).max(31_536_000).optional(),
  /** JSONPath filter over `$.output`; when set, the task succeeds only if it matches. */
  successCondition: z.string().min(1).optional(),
  /** JSONPath filter over `$.output`; when it matches, the task fails. */
  failCondition: z.string().min(1).optional(),
};

export const httpTaskSchema = z.object({
  ...common,
  kind: z.literal('http'),
  url: z.url(),
  method: z.enum(['GET', 'POST', 'PUT', 'DELETE', 'PATCH']).default('POST'),
  headers: z.record(z.string(), z.string()).default({}),
});

export const asyncTaskSchema = z.object({
  ...common,
  kind: z.literal('async'),
  /**
   * Optional URL told about the waiting task (a POST, see `request`); otherwise the token is
   * read via the API. `${executionId}`, `${task}` (the task run's name) and `${token}` in the
   * URL and in header values are filled in, URL-encoded, when the task starts.
   */
  url: z.url().optional(),
  headers: z.record(z.string(), z.string()).default({}),
  /**
   * What is POSTed to `url`: `envelope` is `{token, executionId, task, input}`; `input` is the
   * task input alone (for workers that take their callback from a header, like Rill Flow's).
   */
  request: z.enum(['envelope', 'input']).default('envelope'),
  heartbeatSeconds: z.number().int().min(1).max(86_400).optional(),
});

export const commandTaskSchema = z.object({
  ...common,
  kind: z.literal('command'),
  /** Shell command; `${name}` placeholders are filled from the task input, shell-quoted. */
  command: z.string().min(1),
  successExitCodes: z.array(z.number().int().min(0).max(255)).min(1).default([0]),
  cpu: z.number().positive().max(16).default(0.25),
  memoryGiB: z.number().positive().max(120).default(0.5),
});

export const lambdaTaskSchema = z.object({
  ...common,
  kind: z.literal('lambda'),
  functionName: z.string().min(1),
});

export const passTaskSchema = z.object({ ...common, kind: z.literal('pass') });

export const choiceTaskSchema = z.object({
  ...common,
  kind: z.literal('choice'),
  /** The first branch whose JSONPath filter matches the task input enables its `next` tasks. */
  branches: z.array(z.object({ condition: z.string().min(1), next: z.array(taskName).min(1) })).min(1),
  /** Enabled when no branch matches. */
  otherwise: z.array(taskName).default([]),
});

export const returnTaskSchema = z.object({
  ...common,
  kind: z.literal('return'),
  /** When this JSONPath filter matches the task input, everything downstream is skipped. */
  condition: z.string().min(1),
});

export const waitTaskSchema = z.object({
  ...common,
  kind: z.literal('wait'),
  seconds: z.number().int().min(0).max(31_536_000).optional(),
  until: z.iso.datetime({ offset: true }).optional(),
  /** Waits for a wake-up call through the API (Rill Flow suspense) instead of a time. */
  wakeUp: z.boolean().default(false),
});

export const subflowTaskSchema = z.object({
  ...common,
  kind: z.literal('subflow'),
  flowId: z.string().min(1),
  /** Wait for the sub-execution to end (its result becomes this task's output). */
  wait: z.boolean().default(true),
  /** The output of a waited-for subflow: `{executionId, context}` (default) or its final context alone. */
  returns: z.enum(['execution', 'context']).default('execution'),
});

type LeafTask =
  | z.output<typeof httpTaskSchema>
  | z.output<typeof asyncTaskSchema>
  | z.output<typeof commandTaskSchema>
  | z.output<typeof lambdaTaskSchema>
  | z.output<typeof passTaskSchema>
  | z.output<typeof choiceTaskSchema>
  | z.output<typeof returnTaskSchema>
  | z.output<typeof waitTaskSchema>
  | z.output<typeof subflowTaskSchema>;

export type ForeachTask = z.output<typeof commonForeach> & { tasks: Task[]; collect?: string };
export type Task = LeafTask | ForeachTask;

const commonForeach = z.object({
  ...common,
  kind: z.literal('foreach'),
  /** JSONPath into the task input selecting the array to iterate over. */
  items: jsonPath,
  maxConcurrency: z.number().int().min(0).max(1000).default(0),
});

export const taskSchema: z.ZodType<Task> = z.lazy(() =>
  z.discriminatedUnion('kind', [
    httpTaskSchema,
    asyncTaskSchema,
    commandTaskSchema,
    lambdaTaskSchema,
    passTaskSchema,
    choiceTaskSchema,
    returnTaskSchema,
    waitTaskSchema,
    subflowTaskSchema,
    commonForeach.extend({
      /** The sub-graph run once per item; it reads the item at `$.item` and its index at `$.index`. */
      tasks: z.array(taskSchema).min(1),
      /**
       * A task of the sub-graph whose output each iteration contributes to the
       * foreach's output, `{items, collected: [output of iteration 0, …]}`.
       */
      collect: taskName.optional(),
    }),
  ]),
) as z.ZodType<Task>;

export const taskKinds = [
  'http',
  'async',
  'command',
  'lambda',
  'pass',
  'choice',
  'foreach',
  'return',
  'wait',
  'subflow',
] as const;
export type TaskKind = (typeof taskKinds)[number];

export const flowDescriptorSchema = z
  .object({
    name: z.string().min(1).max(200),
    description: z.string().max(4000).default(''),
    /** Free label of the author's; Sluice numbers stored versions itself. */
    version: z.string().max(100).optional(),
    /** Defaults of the execution context; start parameters override them. */
    parameters: z.record(z.string(), z.unknown()).default({}),
    tags: z.array(z.string().min(1).max(100)).default([]),
    owner: z.string().max(200).optional(),
    tasks: z.array(taskSchema).min(1),
    /** The dialect document this flow came from, kept verbatim so the dialect can return it unchanged. */
    source: z.object({ dialect: z.string(), document: z.unknown() }).optional(),
  })
  .meta({ id: 'FlowDescriptor', description: 'Canonical Sluice flow descriptor' });

export type FlowDescriptor = z.output<typeof flowDescriptorSchema>;
export type Mapping = z.output<typeof mappingSchema>;
export type RetryPolicy = z.output<typeof retrySchema>;

/** A stored flow: a descriptor with identity and a version number. */
export interface Flow {
  id: string;
  version: number;
  tenant: string;
  descriptor: FlowDescriptor;
  createdAt: string;
  updatedAt: string;
}

export const executionStatuses = ['PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'STOPPED'] as const;
export type ExecutionStatus = (typeof executionStatuses)[number];

export interface ExecutionError {
  /** The task that failed, when one did. */
  task?: string;
  error: string;
  cause: string;
}

export interface Execution {
  id: string;
  flowId: string;
  flowVersion: number;
  tenant: string;
  status: ExecutionStatus;
  parameters: Record<string, unknown>;
  startedAt: string;
  endedAt?: string;
  error?: ExecutionError;
  /** Set when a trigger started it: which one, and for what (a scheduled time or an uploaded object). */
  trigger?: TriggerOrigin;
  /** The execution this one re-runs (its finished tasks were kept). */
  rerunOf?: string;
}

export interface TriggerOrigin {
  id: string;
  /** The scheduled time (ISO) of a cron trigger, or `s3://bucket/key` of an upload. */
  firedFor: string;
}

export const taskRunStatuses = [
  'PENDING',
  'WAITING',
  'RUNNING',
  'SUCCEEDED',
  'FAILED',
  'SKIPPED',
  'STOPPED',
] as const;
export type TaskRunStatus = (typeof taskRunStatuses)[number];

export interface TaskRun {
  executionId: string;
  /** Task name; inside a foreach, `parent[index].child`. */
  task: string;
  status: TaskRunStatus;
  attempts: number;
  startedAt?: string;
  endedAt?: string;
  output?: unknown;
  error?: { error: string; cause: string };
}

export const logLevels = ['DEBUG', 'INFO', 'WARN', 'ERROR'] as const;
export type LogLevel = (typeof logLevels)[number];

export interface LogEntry {
  executionId: string;
  timestamp: string;
  level: LogLevel;
  /** What wrote it: `engine`, `task`, `command.stdout`, `command.stderr`. */
  logger: string;
  task?: string;
  message: string;
}

export interface FileReference {
  bucket: string;
  key: string;
  size: number;
  etag: string;
  contentType: string;
}
