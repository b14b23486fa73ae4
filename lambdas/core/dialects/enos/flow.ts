import { z } from 'zod';
import { type ValidationIssue, validationFailed } from '../../errors.ts';
import type { FlowDescriptor, Task } from '../../flow/model.ts';

/**
 * EnOS batch processing (seed 004): the Flow structure of `import`/`export`
 * and its translation to the canonical model. Every EnOS task is a command
 * task; `relations` are its edges; `parameters` ([{key, value}], usually
 * sent as a JSON string) fill `${KEY}` placeholders in `cmd`, shell-quoted by
 * the engine so a parameter value is never shell syntax.
 */

/** `"[{\"key\":…}]"`, an array, or a map: EnOS documents a Map and sends a JSON string. */
const parametersField = z
  .union([
    z.string(),
    z.array(z.object({ key: z.string().min(1), value: z.unknown() })),
    z.record(z.string(), z.unknown()),
  ])
  .optional();

const jsonString = <T extends z.ZodType>(schema: T) =>
  z.union([
    schema,
    z.string().transform((text, context) => {
      if (text.trim() === '') return undefined;
      try {
        return schema.parse(JSON.parse(text)) as z.output<T>;
      } catch {
        context.addIssue({
          code: 'custom',
          message: `not valid JSON of the expected shape: ${text.slice(0, 100)}`,
        });
        return z.NEVER;
      }
    }),
  ]);

const runModeSchema = z
  .object({ cpu: z.coerce.number().positive().optional(), memory: z.coerce.number().positive().optional() })
  .passthrough();

export const enosTaskSchema = z
  .object({
    name: z.string().trim().min(1).max(200),
    cmd: z.string().trim().min(1, 'cmd is empty'),
    type: z.union([z.string(), z.number()]).optional(),
    resource: z.string().optional(),
    submitter: z.string().optional(),
    timeout: z.coerce.number().int().min(1).max(31_536_000).optional(),
    retryLimit: z.coerce.number().int().min(0).max(99).default(0),
    retryInterval: z.coerce.number().int().min(0).max(86_400).default(0),
    successCode: z.union([z.string(), z.number()]).default('0'),
    runMode: jsonString(runModeSchema).optional(),
  })
  .passthrough();

const relationSchema = z
  .object({
    sourceTaskName: z.string().optional(),
    targetTaskName: z.string().optional(),
    source: z.string().optional(),
    target: z.string().optional(),
    rerun: z.boolean().optional(),
  })
  .passthrough();

export const flowJsonSchema = z
  .object({
    name: z.string().optional(),
    cycle: z.enum(['M', 'W', 'D', 'H', 'mi']).optional(),
    cron: z.string().optional(),
    parameters: parametersField,
    submitter: z.string().optional(),
    owners: z.string().optional(),
    visitors: z.string().optional(),
    /** 0 manual, 1 periodic, 2 temporary. */
    type: z.coerce.number().int().min(0).max(2).optional(),
    desc: z.string().optional(),
    tasks: z.array(enosTaskSchema).min(1, 'a flow needs at least one task'),
    relations: z.array(relationSchema).default([]),
    /** "2019-11-22": no scheduled run before this day. */
    startTime: z.string().optional(),
    flowLinks: z.array(z.unknown()).default([]),
    taskLinks: z.array(z.unknown()).default([]),
    linkRelations: z.array(z.unknown()).default([]),
    syncType: z.coerce.number().int().optional(),
    alertTo: z.string().optional(),
    alertMode: z.coerce.number().int().min(0).max(3).optional(),
    appId: z.string().optional(),
  })
  .passthrough();

export type FlowJson = z.output<typeof flowJsonSchema>;

/** One EnOS task as Sluice keeps it: EnOS's name and id, and the canonical task it runs as. */
export interface EnosTaskRef {
  name: string;
  taskId: number;
  /** The canonical task name (EnOS names may hold characters the canonical model refuses). */
  canonical: string;
}

const canonicalName = /^[A-Za-z0-9_][A-Za-z0-9_-]{0,79}$/;
const placeholder = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** `[{key, value}]` (array, JSON string or map) as a map of strings. */
export function parametersOf(value: FlowJson['parameters'] | unknown): Record<string, string> {
  let raw: unknown = value;
  if (typeof raw === 'string') {
    if (raw.trim() === '') return {};
    try {
      raw = JSON.parse(raw);
    } catch {
      return fail('parameters', 'parameters is not valid JSON: expected [{"key": …, "value": …}]');
    }
  }
  if (raw === undefined || raw === null) return {};
  if (Array.isArray(raw)) {
    const out: Record<string, string> = {};
    for (const [index, entry] of raw.entries()) {
      const key = (entry as { key?: unknown })?.key;
      if (typeof key !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
        fail(
          `parameters.${index}.key`,
          `parameter key ${JSON.stringify(key)} must be letters, digits and "_"`,
        );
      }
      out[key as string] = String((entry as { value?: unknown }).value ?? '');
    }
    return out;
  }
  if (typeof raw === 'object') {
    return Object.fromEntries(
      Object.entries(raw as Record<string, unknown>).map(([k, v]) => [k, String(v ?? '')]),
    );
  }
  return fail('parameters', 'parameters must be a list of {"key", "value"}');
}

function fail(path: string, message: string): never {
  const issues: ValidationIssue[] = [{ path: `flowJson.${path}`, message }];
  throw validationFailed(`Workflow validation failed: ${message}`, issues);
}

/** `"0"`, `"0,1"` or `0` → exit codes. */
function exitCodesOf(successCode: string | number, task: string): number[] {
  const codes = String(successCode)
    .split(/[,;\s]+/)
    .filter(Boolean)
    .map(Number);
  if (codes.length === 0 || codes.some((code) => !Number.isInteger(code) || code < 0 || code > 255)) {
    fail('tasks', `task ${task}: successCode "${successCode}" must be exit codes 0-255, comma-separated`);
  }
  return codes;
}

/**
 * The canonical descriptor of an EnOS flow. `taskIds` gives each EnOS task
 * its id (kept across versions by name).
 */
export function translateFlow(
  flowName: string,
  flow: FlowJson,
  taskIdOf: (name: string) => number,
): { descriptor: FlowDescriptor; tasks: EnosTaskRef[]; parameters: Record<string, string> } {
  for (const field of ['flowLinks', 'taskLinks', 'linkRelations'] as const) {
    if (flow[field].length > 0) {
      fail(
        field,
        `${field} (dependencies on other workflows) are not supported; import those workflows' tasks into one flow`,
      );
    }
  }
  const parameters = parametersOf(flow.parameters);
  const seen = new Set<string>();
  const refs: EnosTaskRef[] = flow.tasks.map((task, index) => {
    if (seen.has(task.name)) fail(`tasks.${index}.name`, `task name ${task.name} is used twice`);
    seen.add(task.name);
    return {
      name: task.name,
      taskId: taskIdOf(task.name),
      canonical: canonicalName.test(task.name) ? task.name : `task-${index + 1}`,
    };
  });
  const byName = new Map(refs.map((ref) => [ref.name, ref]));
  const upstreams = new Map<string, string[]>(refs.map((ref) => [ref.name, []]));
  for (const [index, relation] of flow.relations.entries()) {
    const source = relation.sourceTaskName ?? relation.source;
    const target = relation.targetTaskName ?? relation.target;
    for (const [end, name] of [
      ['source', source],
      ['target', target],
    ] as const) {
      if (!name || !byName.has(name)) {
        fail(
          `relations.${index}`,
          `relation ${index} names unknown ${end} task ${JSON.stringify(name ?? null)}`,
        );
      }
    }
    upstreams.get(target as string)?.push(source as string);
  }
  const tasks: Task[] = flow.tasks.map((task, index) => {
    const ref = refs[index] as EnosTaskRef;
    const used = [...new Set([...task.cmd.matchAll(placeholder)].map((match) => match[1] as string))];
    const unknown = used.filter((key) => !(key in parameters));
    if (unknown.length > 0) {
      fail(
        `tasks.${index}.cmd`,
        `task ${task.name} uses \${${unknown[0]}}, which is no parameter of the flow`,
      );
    }
    const runMode = task.runMode ?? undefined;
    return {
      name: ref.canonical,
      kind: 'command',
      description: task.name,
      dependsOn: [...new Set(upstreams.get(task.name) ?? [])].map(
        (name) => byName.get(name)?.canonical ?? name,
      ),
      join: 'all',
      command: task.cmd,
      input: used.map((key) => ({ source: `$.context.${key}`, target: `$.input.${key}` })),
      output: [],
      successExitCodes: exitCodesOf(task.successCode, task.name),
      cpu: runMode?.cpu ?? 0.25,
      memoryGiB: runMode?.memory ?? 0.5,
      ...(task.timeout ? { timeoutSeconds: task.timeout } : {}),
      ...(task.retryLimit > 0
        ? { retry: { maxRetries: task.retryLimit, intervalSeconds: task.retryInterval, backoffRate: 1 } }
        : {}),
    } as Task;
  });
  return {
    descriptor: {
      name: flowName,
      description: flow.desc ?? '',
      parameters,
      tags: ['enos'],
      tasks,
      source: { dialect: 'enos', document: flow },
    } as FlowDescriptor,
    tasks: refs,
    parameters,
  };
}
