import { createHash } from 'node:crypto';
import { parseDocument } from 'yaml';
import { readPath } from '../../engine/json-path.ts';
import { badRequest, isDomainError, type ValidationIssue, validationFailed } from '../../errors.ts';
import { type FlowDescriptor, flowDescriptorSchema, type Mapping } from '../../flow/model.ts';
import { parseJsonPath, validateFlow } from '../../flow/validate.ts';

/**
 * Rill Flow (seed 003) DAG descriptors → the canonical FlowDescriptor.
 *
 * A Rill Flow descriptor is YAML: `version`, `workspace`, `dagName`, `type: flow`
 * and `tasks`, each with a `category` and a comma-separated `next`. Its
 * semantics follow Rill Flow's own engine (weibocom/rill-flow), not only the
 * seed document:
 *
 * - `next` edges become `dependsOn` on the targets; names are Rill's
 *   (`^[A-Za-z0-9]+$`, at most 100, unique across the whole DAG, not the
 *   workspace or DAG name).
 * - Mappings: a source starting with `$` is a JSONPath, anything else a
 *   constant (Rill's parseSource: JSON objects/arrays, true/false, numbers,
 *   else the text); a blank source is no mapping. Rill mappings are lenient
 *   unless `tolerance: false`, so they become `tolerance: true` canonically.
 *   `reference` takes the DAG's `commonMapping` entries. Jayway's `$.a.[0]`
 *   is written `$.a[0]`. A task without input mappings gets an empty input
 *   (Rill's), not the whole context.
 * - `function`: `task_sync` → `http` (POST, or GET with `requestType: get`);
 *   `$.input.body.*` is the body, constant `$.input.query.*` and
 *   `$.input.header.*` become the URL's query and the headers (Rill's HTTP
 *   dispatcher); a `result_type` other than SUCCESS fails the task unless
 *   `successConditions`/`failConditions` decide (success wins, as in Rill).
 *   `task_async` → `async` with `request: input`: the executor gets the input
 *   as the body, `?execution_id=…&name=…` and the headers `X-Mode: async` and
 *   `X-Callback-Url` (from `options.callbackUrl`). `flow_sync`/`flow_async`
 *   with `rillflow://business:feature[:alias]` → `subflow` (`wait` true/false);
 *   a sync subflow's `$.output` is the child's final context, an async one's
 *   `$.output.execution_id` its execution id. `parameters` are input defaults.
 *   `retry` → retry (Rill waits interval·multiplierⁿ before retry n, so the
 *   first interval is interval·multiplier), `timeline.timeoutInSeconds` →
 *   timeoutSeconds.
 * - `choice` → per choice a gate (a canonical `choice` enabling one subflow)
 *   and a subflow running the choice's tasks as a flow of their own, whose
 *   context is the choice task's input; the task itself joins them (`any`).
 * - `switch` → `choice` (`default` cases → `otherwise`); `return` → `return`
 *   (all conditions must hold); `suspense` → `wait` with `wakeUp: true`;
 *   `pass` → `pass`; `foreach` → `foreach` over `iterationMapping.collection`,
 *   whose sub-tasks read the item (`$.context.<item>`) as `$.item`, the index
 *   as `$.index` and the foreach's other inputs from where the foreach took
 *   them. When its iterations need contexts of their own (a sub-task reads
 *   what another wrote, or the foreach reads `sub_context`), each iteration
 *   is a subflow of the sub-tasks (`returns: context`) and the foreach
 *   collects their final contexts as `sub_context`.
 *
 * What the canonical engine cannot do the same way is refused with an error
 * naming the task, the field and the reason, never translated into something
 * that runs differently: a `choice`, or a foreach with iteration contexts,
 * inside a foreach, switch cases without `break: true` before the last (Rill
 * may run several), `transform` (Aviator), `$.tasks.*.trigger_url`,
 * dynamic query parameters or headers, form-encoded bodies, protocols other
 * than http(s) and rillflow (chatgpt, resource, ab…), `task_scheduler`, retry
 * conditions and multipliers below 1, timeouts read from the input, task
 * delays (`timeline.suspense*`), `tolerance: true`, `degrade`, key callbacks,
 * templates, the `input`/`output` shorthands, streams and a DAG timeout.
 *
 * Known, accepted differences: a suspense task's conditions are the wake-up
 * handler's to test (returned in `suspense`), so one whose conditions already
 * hold still waits for a wake-up; filters are JavaScript (`==` is loose, `@.x`
 * tests truthiness, not existence); a foreach's inputs are read when its
 * sub-task runs rather than when it started; a foreach's `maxConcurrency`
 * applies even when its `synchronization.conditions` do not hold (it only
 * changes timing); a sync executor's non-JSON answer succeeds as `{data}`.
 */

// ---------------------------------------------------------------------------
// Public interface

/** The placeholders the task runner fills in (URL-encoded) when an async task starts. */
export interface RillCallbackPlaceholders {
  executionId: string;
  /** The task run's name: the task's, or `foreach[3].task` inside a foreach iteration. */
  task: string;
  token: string;
}

export interface RillDescriptorOptions {
  /**
   * The URL a `task_async` executor calls when done (its `X-Callback-Url`
   * header), given the placeholders to put in it, e.g.
   * `({executionId, task}) => \`https://host/flow/finish.json?executionId=${executionId}&taskName=${task}\``.
   * The placeholders are filled in URL-encoded, so do not encode them again.
   */
  callbackUrl: (placeholders: RillCallbackPlaceholders) => string;
  /**
   * The canonical flow id a `rillflow://` subflow runs, from its descriptor id
   * (`business:feature[:alias|:md5_…]`). Without it the flow id is the
   * descriptor id as written, for the engine's `startChild` to resolve.
   */
  subflowFlowId?: (descriptorId: string) => string;
}

/** The DAG's `callback`: where Rill Flow POSTs an execution's end. */
export interface RillCallback {
  url: string;
  /** Add the whole DAG info (`dag_info`) to the body. */
  fullDagInfo: boolean;
  /** Add the final context (`data`) to the body. */
  fullContext: boolean;
  /** Build the body from the final context (`$.context.*` → `$.input.*`), as task input mappings do. */
  input: Mapping[];
}

/** A suspense task's conditions, for the wake-up handler (both test `{input}` after its input mappings). */
export interface RillSuspense {
  /** JSONPath filter over `$.input` that must hold for a wake-up to end the wait (all of Rill's `conditions`). */
  wakeUpCondition?: string;
  /** JSONPath filter over `$.input` that fails the task (any of Rill's `interruptions`). */
  interruptCondition?: string;
}

export interface RillDescriptorTranslation {
  descriptor: FlowDescriptor;
  /** The YAML document as parsed, unchanged (also `descriptor.source.document`). */
  document: Record<string, unknown>;
  workspace: string;
  dagName: string;
  /** `workspace:dagName`. */
  descriptorId: string;
  callback?: RillCallback;
  /** Suspense tasks by name (Rill task names are unique across the DAG). */
  suspense: Record<string, RillSuspense>;
  /** `rillflow://` descriptor ids by the name of the task that starts them. */
  subflows: Record<string, string>;
  /**
   * The flows a `choice` task's choices run as (each in a context of its own,
   * as Rill runs a choice's sub-tasks), innermost first. Their ids derive from
   * their content, so a flow stored once serves every descriptor that has it.
   */
  children: ChoiceFlow[];
}

export interface ChoiceFlow {
  flowId: string;
  descriptor: FlowDescriptor;
}

/**
 * Parses a Rill Flow YAML descriptor and translates it. Throws a `bad-request`
 * DomainError for malformed YAML (with line and column) and a `validation`
 * one listing every problem (each issue's path is Rill's, e.g.
 * `tasks.2.inputMappings.0.source`, and its message names the task).
 */
export function parseRillDescriptor(
  yamlText: string,
  options: RillDescriptorOptions,
): RillDescriptorTranslation {
  const document = parseYaml(yamlText);
  return new Translator(document, options).translate();
}

// ---------------------------------------------------------------------------
// YAML

function parseYaml(text: string): Record<string, unknown> {
  if (text.trim() === '') {
    throw validationFailed('The Rill Flow descriptor is empty', [
      { path: 'descriptor', message: 'the descriptor is empty' },
    ]);
  }
  const parsed = parseDocument(text);
  if (parsed.errors.length > 0) {
    const issues = parsed.errors.map((error) => {
      const position = error.linePos?.[0];
      const where = position ? `line ${position.line}, column ${position.col}` : 'an unknown position';
      const reason = (error.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
      return { path: 'descriptor', message: `${where}: ${reason}` };
    });
    const [first] = issues as [ValidationIssue];
    throw badRequest(`Malformed Rill Flow YAML at ${first.message}`, issues);
  }
  let value: unknown;
  try {
    value = parsed.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw badRequest(`Malformed Rill Flow YAML: ${(error as Error).message}`, [
      { path: 'descriptor', message: (error as Error).message },
    ]);
  }
  if (!isObject(value)) {
    throw validationFailed(
      'A Rill Flow descriptor must be a YAML mapping with version, workspace, dagName, type and tasks',
      [{ path: 'descriptor', message: 'must be a mapping' }],
    );
  }
  return value;
}

// ---------------------------------------------------------------------------
// Helpers

type JsonObject = Record<string, unknown>;

const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Jackson reads a YAML scalar into a String field: numbers and booleans become their text. */
const text = (value: unknown): string | undefined =>
  typeof value === 'string'
    ? value
    : typeof value === 'number' || typeof value === 'boolean'
      ? String(value)
      : undefined;

const blank = (value: unknown): boolean => (text(value) ?? '').trim() === '';

/** A Boolean field as Jackson reads it: true/false or their text. */
const flag = (value: unknown): boolean | undefined =>
  typeof value === 'boolean' ? value : value === 'true' ? true : value === 'false' ? false : undefined;

/** Rill's `next` (and a switch case's): comma-separated names; a YAML list is accepted too. */
const namesOf = (value: unknown): string[] => {
  const parts = Array.isArray(value) ? value.map((part) => text(part) ?? '') : (text(value) ?? '').split(',');
  return [...new Set(parts.map((part) => part.trim()).filter((part) => part !== ''))];
};

const placeholder = (name: string) => `\${${name}}`;

const RILL_NAME = /^[A-Za-z0-9]+$/;
const CATEGORIES = ['function', 'choice', 'switch', 'foreach', 'pass', 'return', 'suspense'];
const PATTERNS = ['task_sync', 'task_async', 'flow_sync', 'flow_async'];
const DESCRIPTOR_ID = /^[A-Za-z0-9]+:[A-Za-z0-9]+(:[^:\s]+)?$/;

/** Rill's parseSource: the value of a constant mapping source or a defaultContext entry. */
export function parseConstant(source: string): unknown {
  const trimmed = source.trim();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    try {
      const parsed = JSON.parse(trimmed) as unknown;
      if (typeof parsed === 'object' && parsed !== null) return parsed;
    } catch {
      // Not JSON: a plain string.
    }
  }
  const lower = trimmed.toLowerCase();
  if (lower === 'true') return true;
  if (lower === 'false') return false;
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(trimmed)) return Number(trimmed);
  return source;
}

/**
 * Jayway JsonPath reads `$.a.[0]` and `$.a.[?(…)]` like `$.a[0]`; jsonpath-plus
 * reads `.[` as a recursive descent. Drops such dots outside brackets.
 */
export function normalizeRillPath(path: string): string {
  let out = '';
  let depth = 0;
  let quote: string | undefined;
  for (let i = 0; i < path.length; i += 1) {
    const char = path[i] as string;
    if (quote) {
      if (char === '\\') {
        out += char + (path[i + 1] ?? '');
        i += 1;
        continue;
      }
      if (char === quote) quote = undefined;
    } else if (char === "'" || char === '"') {
      quote = char;
    } else if (char === '[') {
      depth += 1;
    } else if (char === ']') {
      depth -= 1;
    } else if (char === '.' && depth === 0 && path[i + 1] === '[' && path[i - 1] !== '.') {
      continue;
    }
    out += char;
  }
  return out;
}

interface NameSegment {
  name: string;
  end: number;
}

/** The leading plain-name segments of a JSONPath (`$.a['b'].c[0]` → a, b, c) with where each ends. */
function leadingNames(path: string): NameSegment[] {
  const names: NameSegment[] = [];
  let i = 1;
  while (i < path.length) {
    if (path[i] === '.' && path[i + 1] !== '.' && path[i + 1] !== '[') {
      let end = i + 1;
      while (end < path.length && /[\p{L}\p{N}_$-]/u.test(path[end] as string)) end += 1;
      if (end === i + 1) break;
      names.push({ name: path.slice(i + 1, end), end });
      i = end;
    } else if (path[i] === '[' && (path[i + 1] === "'" || path[i + 1] === '"')) {
      const quote = path[i + 1] as string;
      let name = '';
      let j = i + 2;
      for (; j < path.length && path[j] !== quote; j += 1) {
        if (path[j] === '\\') j += 1;
        name += path[j] ?? '';
      }
      if (path[j + 1] !== ']') break;
      names.push({ name, end: j + 2 });
      i = j + 2;
    } else {
      break;
    }
  }
  return names;
}

/** A JSONPath of plain names: `$.a.b`, or `$['a b']` where a name needs quoting. */
const pathOf = (names: readonly string[]): string =>
  `$${names.map((name) => (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(name) ? `.${name}` : `['${name.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}']`)).join('')}`;

/** Appends a query string before any fragment, keeping `${…}` placeholders as they are. */
function withQuery(url: string, pairs: ReadonlyArray<readonly [string, string]>): string {
  if (pairs.length === 0) return url;
  const hash = url.indexOf('#');
  const [base, fragment] = hash < 0 ? [url, ''] : [url.slice(0, hash), url.slice(hash)];
  const query = pairs.map(([key, value]) => `${key}=${value}`).join('&');
  return `${base}${base.includes('?') ? (base.endsWith('?') || base.endsWith('&') ? '' : '&') : '?'}${query}${fragment}`;
}

const encode = (value: unknown): string =>
  encodeURIComponent(typeof value === 'string' ? value : JSON.stringify(value));

/** Jayway-only filter syntax jsonpath-plus does not read the same way. */
const JAYWAY_OPERATORS = /(^|[^.\w$])(=~|in|nin|subsetof|anyof|noneof|size|empty)(?![\w$])/;
const JAYWAY_FUNCTIONS = /\.(length|min|max|avg|stddev|sum|keys|first|last)\(\s*\)/;
const STRING_LITERALS = /'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*"/g;

// ---------------------------------------------------------------------------
// Translation

/** One canonical mapping being built, with the Rill path it comes from. */
interface Entry {
  source?: string;
  value?: unknown;
  target: string;
  tolerance: boolean;
  from: string;
}

/** Where a key of a foreach iteration's context comes from. */
type KeySource =
  | { kind: 'path'; path: string }
  | { kind: 'value'; value: unknown }
  | { kind: 'unavailable'; reason: string };

/** The `$.context` a foreach's sub-tasks see: Rill's per-iteration context. */
interface Iteration {
  foreach: string;
  item: string;
  index?: string;
  keys: Map<string, KeySource>;
  /** Keys sub-tasks write into the iteration's context, with the writers. */
  written: Map<string, string[]>;
}

interface Scope {
  /** `tasks` or `tasks.2.tasks` (the same in the canonical descriptor). */
  path: string;
  iteration?: Iteration;
}

interface Edge {
  from: string;
  /** Rill path of the `next` that makes the edge. */
  at: string;
}

class Translator {
  readonly dag: JsonObject;
  readonly options: RillDescriptorOptions;
  readonly issues: ValidationIssue[] = [];
  /** Canonical path → Rill path, for issues the canonical schema and validator find. */
  readonly sources = new Map<string, string>();
  /** Canonical task path → task name. */
  readonly names = new Map<string, string>();
  readonly suspense: Record<string, RillSuspense> = {};
  readonly subflows: Record<string, string> = {};
  readonly children: ChoiceFlow[] = [];
  /** The gate and subflow tasks a choice task expands to, by the choice task's name. */
  readonly choiceParts = new Map<string, { gates: JsonObject[]; subflows: JsonObject[] }>();
  commonMapping: JsonObject = {};

  constructor(dag: JsonObject, options: RillDescriptorOptions) {
    this.dag = dag;
    this.options = options;
  }

  issue(path: string, message: string): void {
    this.issues.push({ path, message });
  }

  translate(): RillDescriptorTranslation {
    const { dag } = this;
    const workspace = text(dag.workspace) ?? text(dag.namespace) ?? '';
    const dagName = text(dag.dagName) ?? text(dag.service) ?? '';
    for (const [field, value] of [
      ['workspace', workspace],
      ['dagName', dagName],
    ] as const) {
      if (!RILL_NAME.test(value) || value.length > 100)
        this.issue(field, `${field} must be 1 to 100 letters and digits; it is "${value}"`);
    }
    const type = text(dag.type);
    if (type === 'resource')
      this.issue('type', 'type "resource" (a DAG of shared resources) is not supported: only type: flow');
    else if (type !== 'flow')
      this.issue('type', `type must be "flow"; it is ${type === undefined ? 'missing' : `"${type}"`}`);
    this.checkUnsupportedDagFields();
    if (isObject(dag.commonMapping)) this.commonMapping = dag.commonMapping;
    else if (dag.commonMapping !== undefined && dag.commonMapping !== null)
      this.issue('commonMapping', 'commonMapping must map names to lists of mappings');

    const parameters = this.defaultContext();
    const callback = this.callback();
    let tasks: JsonObject[] = [];
    if (!Array.isArray(dag.tasks) || dag.tasks.length === 0) {
      this.issue('tasks', 'a flow needs at least one task');
    } else {
      this.checkNames(
        dag.tasks,
        'tasks',
        new Map([workspace, dagName].map((name) => [name, 'the workspace or dagName'])),
      );
      tasks = this.scope(dag.tasks, { path: 'tasks' });
    }
    this.throwIfIssues(`${workspace}:${dagName}`);

    const version = text(dag.version);
    const draft = {
      name: `${workspace}:${dagName}`,
      ...(version !== undefined ? { version } : {}),
      parameters,
      tasks,
      source: { dialect: 'rill-flow', document: dag },
    };
    this.sources.set('name', 'dagName');
    this.sources.set('parameters', 'defaultContext');
    const parsed = flowDescriptorSchema.safeParse(draft);
    if (!parsed.success) {
      for (const problem of parsed.error.issues)
        this.canonicalIssue(problem.path.map(String), problem.message);
      this.throwIfIssues(draft.name);
    }
    const descriptor = parsed.data as FlowDescriptor;
    try {
      validateFlow(descriptor);
    } catch (error) {
      if (!isDomainError(error)) throw error;
      for (const problem of error.issues) this.canonicalIssue(problem.path.split('.'), problem.message);
      this.throwIfIssues(draft.name);
    }
    return {
      descriptor,
      document: dag,
      workspace,
      dagName,
      descriptorId: `${workspace}:${dagName}`,
      ...(callback ? { callback } : {}),
      suspense: this.suspense,
      subflows: this.subflows,
      children: this.children,
    };
  }

  throwIfIssues(name: string): void {
    if (this.issues.length === 0) return;
    const [first] = this.issues as [ValidationIssue];
    const count = this.issues.length;
    const more = count > 1 ? ` (and ${count - 1} more problem${count > 2 ? 's' : ''})` : '';
    throw validationFailed(
      `Rill Flow descriptor ${name} is invalid: ${first.path}: ${first.message}${more}`,
      this.issues,
    );
  }

  /** An issue at a canonical path, told at the Rill path it comes from and naming its task. */
  canonicalIssue(path: readonly string[], message: string): void {
    let rill = path.join('.');
    for (let length = path.length; length > 0; length -= 1) {
      const found = this.sources.get(path.slice(0, length).join('.'));
      if (found !== undefined) {
        rill = [found, ...path.slice(length)].join('.');
        break;
      }
    }
    let task: string | undefined;
    for (let length = path.length; length > 0 && !task; length -= 1)
      task = this.names.get(path.slice(0, length).join('.'));
    this.issue(rill, task ? `task "${task}": ${message}` : message);
  }

  checkUnsupportedDagFields(): void {
    const { dag } = this;
    const timer = dag.timer;
    if (isObject(timer) && !blank(timer.timeoutInSeconds))
      this.issue(
        'timer.timeoutInSeconds',
        'a timeout of the whole DAG (timer.timeoutInSeconds) is not supported',
      );
    if (isObject(dag.output) && Object.keys(dag.output).length > 0)
      this.issue(
        'output',
        'the DAG output shorthand (output) is not supported: write the results with outputMappings',
      );
  }

  defaultContext(): JsonObject {
    const context = this.dag.defaultContext;
    if (context === undefined || context === null) return {};
    if (!isObject(context)) {
      this.issue('defaultContext', 'defaultContext must map names to values');
      return {};
    }
    return Object.fromEntries(
      Object.entries(context).map(([key, value]) => {
        const scalar = text(value);
        return [key, scalar === undefined ? value : parseConstant(scalar)];
      }),
    );
  }

  callback(): RillCallback | undefined {
    const raw = this.dag.callback ?? this.dag.callbackConfig ?? this.dag.callback_config;
    if (raw === undefined || raw === null) return undefined;
    const config = typeof raw === 'string' ? { resourceName: raw } : raw;
    if (!isObject(config)) {
      this.issue(
        'callback',
        'callback must be a mapping with resourceName (and fullDAGInfo, fullContext, inputMappings)',
      );
      return undefined;
    }
    const url = text(config.resourceName)?.trim() ?? '';
    if (url === '') return undefined;
    if (!/^https?:\/\//.test(url) || !URL.canParse(url)) {
      this.issue('callback.resourceName', `the DAG callback must be an http(s) URL; it is "${url}"`);
      return undefined;
    }
    const entries = this.mappings(
      config.inputMappings,
      'callback.inputMappings',
      'input',
      'the DAG callback',
    );
    return {
      url,
      fullDagInfo: flag(config.fullDAGInfo) ?? false,
      fullContext: flag(config.fullContext) ?? false,
      input: entries.map(toMapping),
    };
  }

  /** Rill's name rules, across the whole DAG (foreach sub-tasks included). */
  checkNames(raws: unknown[], path: string, seen: Map<string, string>): void {
    raws.forEach((raw, index) => {
      const at = `${path}.${index}`;
      if (!isObject(raw)) return;
      const name = text(raw.name) ?? '';
      if (!RILL_NAME.test(name) || name.length > 100) {
        this.issue(`${at}.name`, `task name "${name}" must be 1 to 100 letters and digits`);
      } else if (seen.has(name)) {
        this.issue(
          `${at}.name`,
          `task name "${name}" is used by ${seen.get(name)} already; names are unique across the DAG`,
        );
      } else {
        seen.set(name, at);
      }
      if (Array.isArray(raw.tasks)) this.checkNames(raw.tasks, `${at}.tasks`, seen);
    });
  }

  /** Translates one task list (the DAG's or a foreach's). */
  scope(raws: unknown[], scope: Scope): JsonObject[] {
    const tasks = raws.map((raw, index) => {
      if (isObject(raw)) return raw;
      this.issue(`${scope.path}.${index}`, 'a task must be a mapping');
      return {};
    });
    const index = new Map<string, number>();
    tasks.forEach((raw, position) => {
      const name = text(raw.name);
      if (name !== undefined && !index.has(name)) index.set(name, position);
    });
    const upstreams = new Map<string, Edge[]>();
    const link = (from: string, target: string, at: string, outer: boolean) => {
      if (!index.has(target)) {
        const where = scope.iteration
          ? `; tasks inside foreach "${scope.iteration.foreach}" can only go to tasks of the same foreach`
          : outer
            ? '; a task of the DAG cannot go to a task inside a foreach'
            : '';
        this.issue(at, `task "${from}": next names unknown task "${target}"${where}`);
        return;
      }
      const list = upstreams.get(target) ?? [];
      if (!list.some((edge) => edge.from === from)) list.push({ from, at });
      upstreams.set(target, list);
    };
    const everyName = new Set(collectNames(this.dag.tasks));
    tasks.forEach((raw, position) => {
      const name = text(raw.name) ?? '';
      const at = `${scope.path}.${position}`;
      // A switch's edges are its cases'; Rill Flow ignores a next written on it, and so does Sluice.
      if (raw.category === 'switch' && Array.isArray(raw.switches)) {
        raw.switches.forEach((entry, k) => {
          if (!isObject(entry)) return;
          for (const target of namesOf(entry.next))
            link(name, target, `${at}.switches.${k}.next`, everyName.has(target));
        });
      } else {
        for (const target of namesOf(raw.next)) link(name, target, `${at}.next`, everyName.has(target));
      }
    });

    // A choice's gates and subflows go after the translated tasks, so canonical
    // positions keep matching Rill's (issue paths are mapped back by position).
    const appended: JsonObject[] = [];
    const built = tasks.map((raw, position) => {
      const at = `${scope.path}.${position}`;
      const name = text(raw.name) ?? '';
      this.names.set(at, name);
      this.sources.set(`${at}.name`, `${at}.name`);
      const edges = upstreams.get(name) ?? [];
      edges.forEach((edge, k) => {
        this.sources.set(`${at}.dependsOn.${k}`, edge.at);
      });
      const task = this.task(raw, at, scope);
      task.dependsOn = edges.map((edge) => edge.from);
      // Rill Flow skips a task only when every upstream skipped it: it merges a switch's branches.
      task.join = 'any';
      const parts = this.choiceParts.get(name);
      if (parts) {
        // The choice's gates wait for its upstreams (joining as it would); the choice itself (a pass)
        // for every gate and subflow.
        for (const gate of parts.gates) {
          gate.dependsOn = task.dependsOn;
          gate.join = 'any';
        }
        task.dependsOn = [...parts.gates, ...parts.subflows].map((part) => part.name as string);
        appended.push(...parts.gates, ...parts.subflows);
      }
      return task;
    });
    return [...built, ...appended];
  }

  /**
   * A `choice` task: every choice whose condition holds (against the task's
   * input) runs its sub-tasks in a context of its own, the task's input. Each
   * choice k is a gate (`<name>-when-k`, a canonical choice enabling only
   * its subflow) and a subflow (`<name>-choice-k`) running the choice's tasks
   * as a flow of their own; the task itself is a pass joining them (`any`: it
   * runs when no choice held too, as Rill's does). The task's output mappings
   * read each subflow's final context; a source one choice did not set is
   * skipped, since Rill reads them from all choices' contexts merged.
   */
  choiceTask(raw: JsonObject, at: string, scope: Scope, task: JsonObject): JsonObject {
    const name = task.name as string;
    const who = `task "${name}"`;
    task.kind = 'pass';
    task.output = [];
    if (scope.iteration) {
      this.issue(`${at}.choices`, `${who}: a choice inside a foreach is not supported`);
      return task;
    }
    const choices = raw.choices;
    if (!Array.isArray(choices) || choices.length === 0) {
      this.issue(`${at}.choices`, `${who}: a choice task needs choices: [{condition, tasks}]`);
      return task;
    }
    const input = this.mappings(raw.inputMappings, `${at}.inputMappings`, 'input', name, scope);
    const inputMappings = (
      input.length > 0 ? input : [{ target: '$.input', value: {}, tolerance: false, from: at }]
    ).map(toMapping);
    // Each choice's `$.output` is its subflow's final context.
    const outputMappings = this.mappings(raw.outputMappings, `${at}.outputMappings`, 'output', name, scope)
      .flatMap((entry) => this.subflowOutput(entry, 'flow_sync', who))
      .map((entry) => toMapping({ ...entry, tolerance: true }));
    const parts = { gates: [] as JsonObject[], subflows: [] as JsonObject[] };
    choices.forEach((choice: unknown, k: number) => {
      const where = `${at}.choices.${k}`;
      if (!isObject(choice)) {
        this.issue(where, `${who}: a choice must be a mapping with condition and tasks`);
        return;
      }
      const condition = this.conditions(choice.condition, `${where}.condition`, 'input', '&&', name);
      if (choice.condition === undefined || choice.condition === null)
        this.issue(`${where}.condition`, `${who}: choice ${k} needs a condition`);
      if (!Array.isArray(choice.tasks) || choice.tasks.length === 0) {
        this.issue(`${where}.tasks`, `${who}: choice ${k} has no tasks`);
        return;
      }
      const flowId = this.childFlow(choice.tasks, where, `choice${k}${name}`);
      if (condition === undefined || flowId === undefined) return;
      const subflow = `${name}-choice-${k}`;
      const gate = `${name}-when-${k}`;
      parts.gates.push({
        name: gate,
        kind: 'choice',
        description: `${name}: choice ${k} runs when ${String(choice.condition)}`,
        input: inputMappings,
        output: [],
        branches: [{ condition, next: [subflow] }],
        otherwise: [],
      });
      parts.subflows.push({
        name: subflow,
        kind: 'subflow',
        dependsOn: [gate],
        description: `${name}: the tasks of choice ${k}, in a context of their own`,
        input: inputMappings,
        output: outputMappings,
        flowId,
        wait: true,
      });
    });
    this.choiceParts.set(name, parts);
    return task;
  }

  /** Translates a choice's or a foreach's tasks as a flow of their own; its id derives from what it is. */
  childFlow(tasks: unknown[], where: string, dagName: string): string | undefined {
    const child = {
      workspace: this.dag.workspace ?? this.dag.namespace,
      dagName: dagName.slice(0, 100),
      type: 'flow',
      tasks,
      ...(this.dag.commonMapping !== undefined ? { commonMapping: this.dag.commonMapping } : {}),
    };
    try {
      const translated = new Translator(child, this.options).translate();
      const flowId = `rill-choice-${createHash('sha256').update(JSON.stringify(translated.descriptor)).digest('hex').slice(0, 32)}`;
      this.children.push(...translated.children, { flowId, descriptor: translated.descriptor });
      return flowId;
    } catch (error) {
      if (!isDomainError(error)) throw error;
      for (const problem of error.issues) this.issue(`${where}.${problem.path}`, problem.message);
      return undefined;
    }
  }

  /** One task: its category's translation plus what every category shares. */
  task(raw: JsonObject, at: string, scope: Scope): JsonObject {
    const name = text(raw.name) ?? '';
    const category = text(raw.category);
    const task: JsonObject = { name };
    const description = text(raw.description) ?? text(raw.title);
    if (description !== undefined && description.trim() !== '') task.description = description;
    if (category === undefined) {
      this.issue(`${at}.category`, `task "${name}": category is missing (use ${CATEGORIES.join(', ')})`);
      return { ...task, kind: 'pass' };
    }
    if (!CATEGORIES.includes(category)) {
      this.issue(
        `${at}.category`,
        `task "${name}": unknown category "${category}" (use ${CATEGORIES.join(', ')})`,
      );
      return { ...task, kind: 'pass' };
    }
    this.checkUnsupportedTaskFields(raw, at, name, category);
    switch (category) {
      case 'function':
        return this.functionTask(raw, at, scope, task);
      case 'switch':
        return this.switchTask(raw, at, scope, task);
      case 'return':
        return this.returnTask(raw, at, scope, task);
      case 'foreach':
        return this.foreachTask(raw, at, scope, task);
      case 'suspense':
        return this.suspenseTask(raw, at, scope, task);
      case 'choice':
        return this.choiceTask(raw, at, scope, task);
      default: {
        // pass
        task.kind = 'pass';
        this.setInput(
          task,
          at,
          this.mappings(raw.inputMappings, `${at}.inputMappings`, 'input', name, scope),
        );
        this.setOutput(
          task,
          at,
          this.mappings(raw.outputMappings, `${at}.outputMappings`, 'output', name, scope),
          scope,
        );
        return task;
      }
    }
  }

  checkUnsupportedTaskFields(raw: JsonObject, at: string, name: string, category: string): void {
    const refuse = (field: string, what: string) =>
      this.issue(`${at}.${field}`, `task "${name}": ${what} is not supported`);
    if (flag(raw.tolerance) === true)
      refuse('tolerance', 'tolerance: true (a failed task counted as skipped so the DAG goes on)');
    if (isObject(raw.degrade) && (flag(raw.degrade.current) || flag(raw.degrade.followings)))
      refuse('degrade', 'degrade (skipping this task or the ones after it)');
    if (flag(raw.keyCallback) === true) refuse('keyCallback', 'keyCallback (key-task callbacks)');
    if (!blank(raw.keyExp)) refuse('keyExp', 'keyExp (key-task callbacks)');
    if (!blank(raw.templateId)) refuse('templateId', 'templateId (task templates)');
    if (isObject(raw.input) && Object.keys(raw.input).length > 0)
      refuse('input', 'the input shorthand (input: {name: $.task.path}); write inputMappings');
    for (const field of ['inputType', 'outputType'])
      if (text(raw[field])?.toLowerCase() === 'stream') refuse(field, `${field}: stream`);
    const timeline = raw.timeline;
    if (isObject(timeline)) {
      for (const field of ['suspenseIntervalSeconds', 'suspenseTimestamp'])
        if (!blank(timeline[field])) refuse(`timeline.${field}`, `timeline.${field} (delaying the task)`);
      if (flag(timeline.skipOnTimeout) === true && category !== 'pass' && category !== 'return')
        refuse('timeline.skipOnTimeout', 'timeline.skipOnTimeout');
    }
  }

  // Mappings

  /** Rill mappings → canonical entries: references expanded, constants parsed, paths checked and rewritten. */
  mappings(raw: unknown, at: string, direction: 'input' | 'output', task: string, scope?: Scope): Entry[] {
    if (raw === undefined || raw === null) return [];
    if (!Array.isArray(raw)) {
      this.issue(at, `task "${task}": ${at.split('.').at(-1)} must be a list`);
      return [];
    }
    const expanded: Array<{ mapping: unknown; from: string }> = [];
    raw.forEach((mapping, k) => {
      const from = `${at}.${k}`;
      const reference = isObject(mapping) ? text(mapping.reference) : undefined;
      if (reference === undefined || reference.trim() === '') {
        expanded.push({ mapping, from });
        return;
      }
      const shared = this.commonMapping[reference];
      if (!Array.isArray(shared) || shared.length === 0) {
        this.issue(
          `${from}.reference`,
          `task "${task}": mapping reference "${reference}" is not in commonMapping`,
        );
        return;
      }
      shared.forEach((entry, j) => {
        expanded.push({ mapping: entry, from: `commonMapping.${reference}.${j}` });
      });
    });
    const entries: Entry[] = [];
    for (const { mapping, from } of expanded) {
      const entry = this.entry(mapping, from, direction, task, scope);
      if (entry) entries.push(entry);
    }
    return entries;
  }

  entry(
    mapping: unknown,
    from: string,
    direction: 'input' | 'output',
    task: string,
    scope?: Scope,
  ): Entry | undefined {
    const who = `task "${task}"`;
    if (!isObject(mapping)) {
      this.issue(from, `${who}: a mapping must be a mapping with source and target`);
      return undefined;
    }
    if (!blank(mapping.transform)) {
      this.issue(`${from}.transform`, `${who}: transform (an Aviator script) is not supported`);
      return undefined;
    }
    const rawTarget = text(mapping.target);
    const rawSource = mapping.source;
    if (rawTarget === undefined || rawTarget.trim() === '') return undefined; // Rill ignores such a mapping.
    if (
      rawSource === undefined ||
      rawSource === null ||
      (typeof rawSource === 'string' && rawSource.trim() === '')
    )
      return undefined;
    const tolerance = flag(mapping.tolerance) !== false;
    const target = normalizeRillPath(rawTarget.trim());
    const entry: Entry = { target, tolerance, from };
    const sourceText = text(rawSource);
    if (sourceText?.trimStart().startsWith('$')) {
      const source = normalizeRillPath(sourceText.trim());
      if (/^\$\.tasks\./.test(source)) {
        this.issue(`${from}.source`, `${who}: $.tasks.<task>.trigger_url sources are not supported`);
        return undefined;
      }
      entry.source = source;
    } else {
      entry.value = sourceText === undefined ? rawSource : parseConstant(sourceText);
    }
    const [sources, targets] =
      direction === 'input'
        ? [['context', 'input'], ['input']]
        : [['output', 'input', 'context'], ['context']];
    const list = (roots: string[]) => roots.map((root) => `$.${root}`).join(' or ');
    const targetRoot = leadingNames(target)[0]?.name;
    if (targetRoot === undefined || !targets.includes(targetRoot)) {
      this.issue(
        `${from}.target`,
        `${who}: ${direction} mappings write ${list(targets)}, not "${rawTarget}"`,
      );
      return undefined;
    }
    if (entry.source !== undefined) {
      const sourceRoot = leadingNames(entry.source)[0]?.name;
      if (sourceRoot === undefined || !sources.includes(sourceRoot)) {
        this.issue(
          `${from}.source`,
          `${who}: ${direction} mappings read ${list(sources)}, not "${sourceText}"`,
        );
        return undefined;
      }
      // Inside a foreach, output mappings only fill the iteration's context (dropped by setOutput).
      if (sourceRoot === 'context' && scope?.iteration && direction === 'input')
        return this.iterationRead(entry, scope.iteration, who);
    }
    return entry;
  }

  /** A sub-task of a foreach reads Rill's iteration context: the item, the index or the foreach's inputs. */
  iterationRead(entry: Entry, iteration: Iteration, who: string): Entry | undefined {
    const source = entry.source as string;
    const [, key] = leadingNames(source);
    const at = `${entry.from}.source`;
    const foreach = `foreach "${iteration.foreach}"`;
    if (!key) {
      this.issue(at, `${who}: reads "${source}": inside ${foreach} read one key of the iteration's context`);
      return undefined;
    }
    const rest = source.slice(key.end);
    const writers = iteration.written.get(key.name);
    if (writers) {
      this.issue(
        at,
        `${who}: reads $.context.${key.name}, which ${writers.map((w) => `"${w}"`).join(', ')} of ${foreach} ` +
          "writes into the iteration's own context: Sluice's foreach iterations share the execution context, " +
          'so data cannot pass between the tasks of one iteration',
      );
      return undefined;
    }
    if (key.name === iteration.index) {
      if (rest !== '') {
        this.issue(at, `${who}: the index of ${foreach} is a number; "${source}" reads into it`);
        return undefined;
      }
      return { ...entry, source: '$.index' };
    }
    if (key.name === iteration.item) return { ...entry, source: `$.item${rest}` };
    const origin = iteration.keys.get(key.name);
    if (!origin) {
      const held = [iteration.item, ...(iteration.index ? [iteration.index] : []), ...iteration.keys.keys()];
      this.issue(
        at,
        `${who}: reads $.context.${key.name}, which the iteration context of ${foreach} does not hold ` +
          `(it holds ${held.map((name) => `"${name}"`).join(', ')})`,
      );
      return undefined;
    }
    if (origin.kind === 'unavailable') {
      this.issue(
        at,
        `${who}: reads $.context.${key.name} inside ${foreach}, which is not supported: ${origin.reason}`,
      );
      return undefined;
    }
    if (origin.kind === 'path') return { ...entry, source: `${origin.path}${rest}` };
    if (rest === '')
      return { target: entry.target, tolerance: entry.tolerance, from: entry.from, value: origin.value };
    const read = readPath({ value: origin.value }, `$.value${rest}`);
    return read.found
      ? { target: entry.target, tolerance: entry.tolerance, from: entry.from, value: read.value }
      : undefined;
  }

  /** Input mappings of a task; an empty list still gives an empty input, as in Rill. */
  setInput(task: JsonObject, at: string, entries: Entry[]): void {
    const list =
      entries.length > 0 ? entries : [{ target: '$.input', value: {}, tolerance: false, from: at }];
    task.input = list.map(toMapping);
    list.forEach((entry, k) => {
      this.sources.set(`${at}.input.${k}`, entry.from);
    });
  }

  /** Output mappings; inside a foreach they only fill the iteration's context, which Sluice has no place for. */
  setOutput(task: JsonObject, at: string, entries: Entry[], scope: Scope): void {
    const kept = scope.iteration ? [] : entries;
    task.output = kept.map(toMapping);
    kept.forEach((entry, k) => {
      this.sources.set(`${at}.output.${k}`, entry.from);
    });
  }

  /** `successConditions`, `conditions`…: a list of JSONPath filters on one root, all (or any) of which must hold. */
  conditions(
    raw: unknown,
    at: string,
    root: 'input' | 'output',
    join: '&&' | '||',
    task: string,
  ): string | undefined {
    if (raw === undefined || raw === null) return undefined;
    const list = Array.isArray(raw) ? raw : [raw];
    const expressions: string[] = [];
    let failed = false;
    list.forEach((condition, k) => {
      const where = Array.isArray(raw) ? `${at}.${k}` : at;
      const expression = this.filter(condition, where, root, task);
      if (expression === undefined) failed = true;
      else expressions.push(expression);
    });
    if (failed || expressions.length === 0) return undefined;
    const joined =
      expressions.length === 1
        ? expressions[0]
        : expressions.map((expression) => `(${expression})`).join(` ${join} `);
    return `$.${root}[?(${joined})]`;
  }

  /** One condition `$.root[?(expression)]` → its expression. */
  filter(condition: unknown, at: string, root: 'input' | 'output', task: string): string | undefined {
    const who = `task "${task}"`;
    const written = text(condition);
    if (written === undefined || written.trim() === '') {
      this.issue(at, `${who}: a condition must be a JSONPath filter such as $.${root}[?(@.status == "ok")]`);
      return undefined;
    }
    const path = normalizeRillPath(written.trim());
    const bare = path.replace(STRING_LITERALS, "''");
    const jayway = JAYWAY_OPERATORS.exec(bare)?.[2] ?? JAYWAY_FUNCTIONS.exec(bare)?.[0];
    if (jayway) {
      this.issue(
        at,
        `${who}: condition "${written}" uses Jayway's "${jayway}", which is not supported; use JavaScript operators`,
      );
      return undefined;
    }
    const parsed = parseJsonPath(path);
    if (!parsed.ok) {
      this.issue(at, `${who}: invalid condition "${written}": ${parsed.reason}`);
      return undefined;
    }
    const [first, second, ...more] = parsed.segments;
    if (first?.kind !== 'name' || first.name !== root || second?.kind !== 'filter' || more.length > 0) {
      this.issue(
        at,
        `${who}: condition "${written}" must be one filter on $.${root}, such as $.${root}[?(@.status == "ok")]`,
      );
      return undefined;
    }
    // parseJsonPath has checked the filter expression (jsonpath-plus's safe evaluator reads it).
    return second.expression;
  }

  /** `timeline.timeoutInSeconds`: a positive number of seconds (a JSONPath is evaluated per run in Rill). */
  timeout(raw: JsonObject, at: string, task: JsonObject): void {
    const timeline = raw.timeline;
    if (!isObject(timeline) || blank(timeline.timeoutInSeconds)) return;
    const value = (text(timeline.timeoutInSeconds) as string).trim();
    const where = `${at}.timeline.timeoutInSeconds`;
    if (value.startsWith('$')) {
      this.issue(where, `task "${task.name}": a timeout read from the input ("${value}") is not supported`);
      return;
    }
    if (!/^\d+$/.test(value)) {
      this.issue(
        where,
        `task "${task.name}": timeoutInSeconds must be a whole number of seconds; it is "${value}"`,
      );
      return;
    }
    const seconds = Number(value);
    if (seconds > 0) {
      task.timeoutSeconds = seconds;
      this.sources.set(`${at}.timeoutSeconds`, where);
    }
  }

  // Categories

  functionTask(raw: JsonObject, at: string, scope: Scope, task: JsonObject): JsonObject {
    const name = task.name as string;
    const who = `task "${name}"`;
    const pattern = text(raw.pattern);
    task.kind = 'pass';
    if (pattern === undefined || pattern.trim() === '') {
      this.issue(`${at}.pattern`, `${who}: pattern is missing (use ${PATTERNS.join(', ')})`);
      return task;
    }
    if (pattern === 'task_scheduler') {
      this.issue(
        `${at}.pattern`,
        `${who}: pattern "task_scheduler" is not supported (use ${PATTERNS.join(', ')})`,
      );
      return task;
    }
    if (!PATTERNS.includes(pattern)) {
      this.issue(`${at}.pattern`, `${who}: unknown pattern "${pattern}" (use ${PATTERNS.join(', ')})`);
      return task;
    }
    if (raw.resource !== undefined && raw.resource !== null) {
      this.issue(`${at}.resource`, `${who}: an inline resource is not supported; give resourceName`);
      return task;
    }
    const protocolField = text(raw.resourceProtocol)?.trim() ?? '';
    let resourceName = text(raw.resourceName)?.trim() ?? '';
    if (resourceName === '' && protocolField !== '') resourceName = `${protocolField}://`;
    if (resourceName === '') {
      this.issue(`${at}.resourceName`, `${who}: resourceName is missing`);
      return task;
    }
    const separator = resourceName.indexOf('://');
    const scheme =
      protocolField !== '' ? protocolField : separator < 0 ? '' : resourceName.slice(0, separator);
    const flow = pattern.startsWith('flow_');
    const resourceAt = `${at}.resourceName`;

    const parameters = raw.parameters;
    const defaults: Entry[] = [];
    if (isObject(parameters)) {
      for (const [key, value] of Object.entries(parameters))
        defaults.push({
          target: pathOf(['input', key]),
          value,
          tolerance: false,
          from: `${at}.parameters.${key}`,
        });
    } else if (parameters !== undefined && parameters !== null) {
      this.issue(`${at}.parameters`, `${who}: parameters must map names to values`);
    }
    const input = [
      ...defaults,
      ...this.mappings(raw.inputMappings, `${at}.inputMappings`, 'input', name, scope),
    ];
    let output = this.mappings(raw.outputMappings, `${at}.outputMappings`, 'output', name, scope);
    this.retry(raw, at, task);
    this.timeout(raw, at, task);

    if (flow) {
      if (scheme !== 'rillflow') {
        this.issue(
          resourceAt,
          `${who}: pattern ${pattern} needs a rillflow://business:feature resource, not "${resourceName}"`,
        );
        return task;
      }
      const descriptorId = resourceName.slice(separator + 3).trim();
      if (!DESCRIPTOR_ID.test(descriptorId)) {
        this.issue(
          resourceAt,
          `${who}: "${resourceName}" must name a descriptor as rillflow://business:feature[:alias]`,
        );
        return task;
      }
      task.kind = 'subflow';
      task.flowId = this.options.subflowFlowId?.(descriptorId) ?? descriptorId;
      task.wait = pattern === 'flow_sync';
      this.sources.set(`${at}.flowId`, resourceAt);
      this.subflows[name] = descriptorId;
      output = output.flatMap((entry) => this.subflowOutput(entry, pattern, who));
      if (pattern === 'flow_sync') {
        for (const field of ['successConditions', 'failConditions'])
          if (Array.isArray(raw[field]) && raw[field].length > 0)
            this.issue(
              `${at}.${field}`,
              `${who}: ${field} on a flow_sync subflow (its final context) are not supported`,
            );
      }
      // flow_async ignores conditions in Rill Flow: the task succeeds once the subflow started.
      this.setInput(task, at, input);
      this.setOutput(task, at, output, scope);
      return task;
    }

    if (scheme !== 'http' && scheme !== 'https') {
      const why =
        scheme === 'rillflow'
          ? `a rillflow:// resource needs pattern flow_sync or flow_async, not ${pattern}`
          : `resource protocol "${scheme || resourceName}" is not supported: only http(s) URLs and rillflow:// subflows`;
      this.issue(resourceAt, `${who}: ${why}`);
      return task;
    }
    const http = this.httpRequest(input, who);
    if (!http) return task;
    const headers = http.headers;
    if (
      Object.entries(headers).some(
        ([header, value]) => header.toLowerCase() === 'content-type' && /form-urlencoded/i.test(value),
      )
    ) {
      this.issue(
        `${at}.inputMappings`,
        `${who}: form-encoded bodies (content-type application/x-www-form-urlencoded) are not supported`,
      );
      return task;
    }
    this.sources.set(`${at}.url`, resourceAt);
    this.sources.set(`${at}.headers`, `${at}.inputMappings`);
    if (pattern === 'task_sync') {
      const requestType = (text(raw.requestType) ?? 'post').trim().toUpperCase();
      if (requestType !== 'GET' && requestType !== 'POST') {
        this.issue(
          `${at}.requestType`,
          `${who}: requestType "${raw.requestType}" is not supported (use get or post)`,
        );
        return task;
      }
      task.kind = 'http';
      task.url = withQuery(resourceName, http.query);
      task.method = requestType;
      task.headers = headers;
      this.sources.set(`${at}.method`, `${at}.requestType`);
      this.resultConditions(raw, at, task, true);
    } else {
      task.kind = 'async';
      task.request = 'input';
      task.url = withQuery(resourceName, [
        ['execution_id', placeholder('executionId')],
        ['name', placeholder('task')],
        ...http.query,
      ]);
      task.headers = {
        ...headers,
        'X-Mode': 'async',
        'X-Callback-Url': this.options.callbackUrl({
          executionId: placeholder('executionId'),
          task: placeholder('task'),
          token: placeholder('token'),
        }),
      };
      this.resultConditions(raw, at, task, false);
    }
    this.setInput(task, at, http.body);
    this.setOutput(task, at, output, scope);
    return task;
  }

  /** Rill's HTTP dispatcher: `query`/`header` maps of the input are the URL's query and the headers, `body` the body. */
  httpRequest(
    entries: Entry[],
    who: string,
  ): { body: Entry[]; headers: Record<string, string>; query: Array<[string, string]> } | undefined {
    const body: Entry[] = [];
    const headers: Record<string, string> = {};
    const query = new Map<string, string>();
    let ok = true;
    for (const entry of entries) {
      const names = leadingNames(entry.target);
      const key = names[1];
      const part =
        key === undefined
          ? undefined
          : key.name === 'query' || key.name.startsWith('query_params_')
            ? 'query'
            : key.name === 'header' || key.name.startsWith('request_header_')
              ? 'header'
              : key.name === 'body' || key.name.startsWith('request_config_')
                ? 'body'
                : key.name.startsWith('request_callback_')
                  ? 'callback'
                  : undefined;
      if (part === undefined || key === undefined) {
        body.push(entry);
        continue;
      }
      const where = entry.from;
      if (part === 'callback') {
        this.issue(where, `${who}: ${key.name} (the executor's callback settings) is not supported`);
        ok = false;
        continue;
      }
      const rest = entry.target.slice(key.end);
      const constant = entry.source === undefined;
      if (part === 'body') {
        if (rest !== '') {
          body.push({ ...entry, target: `$.input${rest}` });
        } else if (constant && isObject(entry.value)) {
          for (const [field, value] of Object.entries(entry.value))
            body.push({ target: pathOf(['input', field]), value, tolerance: false, from: where });
        } else {
          this.issue(
            `${where}.target`,
            `${who}: the whole $.input.${key.name} can only be a constant map; map its fields instead`,
          );
          ok = false;
        }
        continue;
      }
      const into = (field: string, value: unknown) => {
        const written = typeof value === 'string' ? value : JSON.stringify(value);
        if (part === 'header') headers[field] = written;
        else query.set(encodeURIComponent(field), encode(value));
      };
      const field = names[2];
      if (!constant) {
        this.issue(
          `${where}.source`,
          `${who}: ${part === 'query' ? 'query parameters' : 'headers'} can only be constants; ` +
            `"${entry.target}" from "${entry.source}" is not supported`,
        );
        ok = false;
      } else if (rest === '' && isObject(entry.value)) {
        for (const [name, value] of Object.entries(entry.value)) into(name, value);
      } else if (field && names.length === 3 && entry.target.length === field.end) {
        into(field.name, entry.value);
      } else {
        const what = part === 'query' ? 'one query parameter' : 'one header';
        this.issue(`${where}.target`, `${who}: "${entry.target}" must name ${what} (or be a constant map)`);
        ok = false;
      }
    }
    return ok ? { body, headers, query: [...query] } : undefined;
  }

  /** flow_sync's output is the child's final context; flow_async's is `{execution_id}`. */
  subflowOutput(entry: Entry, pattern: string, who: string): Entry[] {
    if (entry.source === undefined || leadingNames(entry.source)[0]?.name !== 'output') return [entry];
    const root = leadingNames(entry.source)[0] as NameSegment;
    const rest = entry.source.slice(root.end);
    if (pattern === 'flow_sync') return [{ ...entry, source: `$.output.context${rest}` }];
    const field = leadingNames(entry.source)[1];
    if (field?.name === 'execution_id' && entry.source.length === field.end)
      return [{ ...entry, source: '$.output.executionId' }];
    this.issue(
      `${entry.from}.source`,
      `${who}: a flow_async task's output is only {execution_id}; "${entry.source}" is not in it`,
    );
    return [];
  }

  retry(raw: JsonObject, at: string, task: JsonObject): void {
    const retry = raw.retry;
    if (retry === undefined || retry === null) return;
    const who = `task "${task.name}"`;
    const where = `${at}.retry`;
    if (!isObject(retry)) {
      this.issue(
        where,
        `${who}: retry must be a mapping with maxRetryTimes, intervalInSeconds and multiplier`,
      );
      return;
    }
    if (Array.isArray(retry.conditions) && retry.conditions.length > 0) {
      this.issue(
        `${where}.conditions`,
        `${who}: retry conditions (retrying only some failures) are not supported`,
      );
      return;
    }
    const number = (field: string): number | undefined => {
      const value = text(retry[field]);
      if (value === undefined || value.trim() === '') return undefined;
      const parsed = Number(value);
      if (!Number.isFinite(parsed))
        this.issue(`${where}.${field}`, `${who}: retry.${field} must be a number; it is "${value}"`);
      return Number.isFinite(parsed) ? parsed : undefined;
    };
    const times = Math.trunc(number('maxRetryTimes') ?? 0);
    const interval = Math.max(0, Math.trunc(number('intervalInSeconds') ?? 0));
    const given = number('multiplier');
    const multiplier = given !== undefined && given > 0 ? given : 1;
    if (times <= 0) return;
    if (multiplier < 1 || multiplier > 10) {
      this.issue(
        `${where}.multiplier`,
        `${who}: a retry multiplier must be between 1 and 10 in Sluice; it is ${multiplier}`,
      );
      return;
    }
    // Rill waits interval · multiplier^n before retry n (n from 1); Step Functions interval · rate^(n-1).
    task.retry = {
      maxRetries: times,
      intervalSeconds: Math.floor(interval * multiplier),
      backoffRate: multiplier,
    };
    this.sources.set(`${at}.retry`, where);
  }

  /** Rill decides a function task's result: successConditions, else failConditions, else (sync) result_type. */
  resultConditions(raw: JsonObject, at: string, task: JsonObject, sync: boolean): void {
    const name = task.name as string;
    const success = this.conditions(raw.successConditions, `${at}.successConditions`, 'output', '&&', name);
    if (success !== undefined) {
      task.successCondition = success;
      this.sources.set(`${at}.successCondition`, `${at}.successConditions`);
      return;
    }
    const failure = this.conditions(raw.failConditions, `${at}.failConditions`, 'output', '&&', name);
    if (failure !== undefined) {
      task.failCondition = failure;
      this.sources.set(`${at}.failCondition`, `${at}.failConditions`);
    } else if (sync && !(Array.isArray(raw.failConditions) && raw.failConditions.length > 0)) {
      task.failCondition = RESULT_TYPE_FAILED;
      this.sources.set(`${at}.failCondition`, `${at}.pattern`);
    }
  }

  switchTask(raw: JsonObject, at: string, scope: Scope, task: JsonObject): JsonObject {
    const name = task.name as string;
    const who = `task "${name}"`;
    this.setInput(task, at, this.mappings(raw.inputMappings, `${at}.inputMappings`, 'input', name, scope));
    task.output = [];
    this.timeout(raw, at, task);
    const cases = raw.switches;
    if (cases !== undefined && cases !== null && !Array.isArray(cases)) {
      this.issue(`${at}.switches`, `${who}: switches must be a list of {condition, next, break}`);
      task.kind = 'pass';
      return task;
    }
    const branches: Array<{ condition: string; next: string[] }> = [];
    const otherwise: string[] = [];
    const regular: number[] = [];
    (cases ?? []).forEach((entry: unknown, k: number) => {
      const where = `${at}.switches.${k}`;
      if (!isObject(entry)) {
        this.issue(where, `${who}: a switch case must be a mapping with condition and next`);
        return;
      }
      const next = namesOf(entry.next);
      if (next.length === 0) this.issue(`${where}.next`, `${who}: switch case ${k} has no next`);
      const condition = text(entry.condition)?.trim();
      if (condition === 'default') {
        for (const target of next) if (!otherwise.includes(target)) otherwise.push(target);
        this.sources.set(`${at}.otherwise`, `${where}.next`);
        return;
      }
      regular.push(k);
      const filter = this.conditions(entry.condition ?? '', `${where}.condition`, 'input', '&&', name);
      if (filter === undefined || next.length === 0) return;
      this.sources.set(`${at}.branches.${branches.length}`, where);
      branches.push({ condition: filter, next });
    });
    regular.slice(0, -1).forEach((k) => {
      const entry = (cases as unknown[])[k] as JsonObject;
      if (flag(entry.break) !== true)
        this.issue(
          `${at}.switches.${k}.break`,
          `${who}: switch case ${k} has no "break: true", so Rill Flow would go on testing the later cases and ` +
            "could run several of them; Sluice's choice runs only the first case that holds. Add break: true " +
            '(it changes nothing when the cases exclude each other)',
        );
    });
    if (branches.length === 0) {
      // Only default cases (or none): Rill runs them all, as plain downstream tasks.
      task.kind = 'pass';
      return task;
    }
    task.kind = 'choice';
    task.branches = branches;
    task.otherwise = otherwise;
    return task;
  }

  returnTask(raw: JsonObject, at: string, scope: Scope, task: JsonObject): JsonObject {
    const name = task.name as string;
    task.kind = 'return';
    this.setInput(task, at, this.mappings(raw.inputMappings, `${at}.inputMappings`, 'input', name, scope));
    task.output = []; // Rill Flow's return tasks apply no output mappings.
    const conditions = raw.conditions;
    if (conditions === undefined || conditions === null) {
      this.issue(`${at}.conditions`, `task "${name}": a return task needs conditions`);
      task.condition = ALWAYS;
    } else if (Array.isArray(conditions) && conditions.length === 0) {
      task.condition = ALWAYS; // All of no conditions hold: Rill returns every time.
    } else {
      task.condition = this.conditions(conditions, `${at}.conditions`, 'input', '&&', name) ?? ALWAYS;
    }
    this.sources.set(`${at}.condition`, `${at}.conditions`);
    return task;
  }

  suspenseTask(raw: JsonObject, at: string, scope: Scope, task: JsonObject): JsonObject {
    const name = task.name as string;
    task.kind = 'wait';
    task.wakeUp = true;
    this.setInput(task, at, this.mappings(raw.inputMappings, `${at}.inputMappings`, 'input', name, scope));
    this.setOutput(
      task,
      at,
      this.mappings(raw.outputMappings, `${at}.outputMappings`, 'output', name, scope),
      scope,
    );
    this.timeout(raw, at, task);
    const wakeUp = this.conditions(raw.conditions, `${at}.conditions`, 'input', '&&', name);
    const interrupt = this.conditions(raw.interruptions, `${at}.interruptions`, 'input', '||', name);
    this.suspense[name] = {
      ...(wakeUp ? { wakeUpCondition: wakeUp } : {}),
      ...(interrupt ? { interruptCondition: interrupt } : {}),
    };
    return task;
  }

  foreachTask(raw: JsonObject, at: string, scope: Scope, task: JsonObject): JsonObject {
    const name = task.name as string;
    const who = `task "${name}"`;
    task.kind = 'foreach';
    task.items = '$.input.items';
    task.tasks = [];
    const mapping = raw.iterationMapping;
    if (!isObject(mapping) || blank(mapping.collection)) {
      this.issue(`${at}.iterationMapping.collection`, `${who}: a foreach needs iterationMapping.collection`);
      return task;
    }
    const collection = normalizeRillPath((text(mapping.collection) as string).trim());
    const item = text(mapping.item)?.trim() ?? '';
    const indexName = text(mapping.index)?.trim();
    if (item === '')
      this.issue(`${at}.iterationMapping.item`, `${who}: a foreach needs iterationMapping.item`);
    const collectionNames = leadingNames(collection);
    if (collectionNames[0]?.name !== 'input') {
      this.issue(
        `${at}.iterationMapping.collection`,
        `${who}: the collection is read from the foreach's input, so it starts with $.input; it is "${collection}"`,
      );
      return task;
    }
    task.items = collection;
    this.sources.set(`${at}.items`, `${at}.iterationMapping.collection`);
    if (!Array.isArray(raw.tasks) || raw.tasks.length === 0) {
      this.issue(`${at}.tasks`, `${who}: a foreach needs tasks`);
      return task;
    }
    const entries = this.mappings(raw.inputMappings, `${at}.inputMappings`, 'input', name, scope);
    // Rill iterates over nothing when the collection is missing; an empty list first does the same.
    const plain =
      collectionNames.length > 0 && collection.length === (collectionNames.at(-1) as NameSegment).end;
    const input = plain
      ? [
          { target: collection, value: [], tolerance: false, from: `${at}.iterationMapping.collection` },
          ...entries,
        ]
      : entries;
    this.setInput(task, at, input);
    const outputs = this.mappings(raw.outputMappings, `${at}.outputMappings`, 'output', name, scope);
    const readsOutput = (entry: Entry) =>
      entry.source !== undefined && leadingNames(entry.source)[0]?.name === 'output';
    // Iterations that need a context of their own (a task reads what another wrote there, or the
    // foreach reads the contexts back through sub_context) run as subflows; the others in place.
    const contextKey = (path: unknown) => {
      if (typeof path !== 'string') return undefined;
      const [root, key] = leadingNames(normalizeRillPath(path.trim()));
      return root?.name === 'context' ? key?.name : undefined;
    };
    const written = new Set<string>();
    const read = new Set<string>();
    for (const sub of raw.tasks as unknown[]) {
      if (!isObject(sub)) continue;
      for (const target of this.quietMappings(sub.outputMappings)) {
        const key = contextKey(target);
        if (key) written.add(key);
      }
      for (const mapping of Array.isArray(sub.inputMappings) ? sub.inputMappings : []) {
        const key = isObject(mapping) ? contextKey(mapping.source) : undefined;
        if (key) read.add(key);
      }
    }
    const ownContexts = outputs.some(readsOutput) || [...read].some((key) => written.has(key));
    const output = outputs.filter((entry) => {
      if (!readsOutput(entry)) return true;
      const [, field] = leadingNames(entry.source as string);
      if (field?.name === 'sub_context') return true;
      this.issue(
        `${entry.from}.source`,
        `${who}: "${entry.source}" reads the foreach's output, which holds only sub_context (the iterations' contexts)`,
      );
      return false;
    });
    this.maxConcurrency(raw, at, task);
    if (ownContexts)
      return this.foreachOfContexts(raw, at, scope, task, { item, indexName, entries, output });
    this.setOutput(task, at, output, scope);
    this.timeout(raw, at, task);

    const iteration: Iteration = {
      foreach: name,
      item,
      ...(indexName ? { index: indexName } : {}),
      keys: iterationKeys(entries, collection, name),
      written: new Map(),
    };
    for (const sub of raw.tasks) {
      if (!isObject(sub) || sub.category === 'switch' || sub.category === 'return') continue;
      const mappingsAt = 'outputMappings';
      for (const entry of this.quietMappings(sub[mappingsAt])) {
        const [root, key] = leadingNames(entry);
        if (root?.name === 'context' && key) {
          const writers = iteration.written.get(key.name) ?? [];
          writers.push(text(sub.name) ?? '');
          iteration.written.set(key.name, writers);
        }
      }
    }
    task.tasks = this.scope(raw.tasks, { path: `${at}.tasks`, iteration });
    this.sources.set(`${at}.tasks`, `${at}.tasks`);
    return task;
  }

  /** `synchronization.maxConcurrency` (Rill applies it only when its conditions hold; a limit never changes results). */
  maxConcurrency(raw: JsonObject, at: string, task: JsonObject): void {
    const synchronization = raw.synchronization;
    if (
      !isObject(synchronization) ||
      !Array.isArray(synchronization.conditions) ||
      synchronization.conditions.length === 0
    )
      return;
    const limit = text(synchronization.maxConcurrency)?.trim();
    if (limit === undefined || limit === '') return;
    if (!/^\d+$/.test(limit)) {
      this.issue(
        `${at}.synchronization.maxConcurrency`,
        `task "${task.name as string}": maxConcurrency must be a whole number; "${limit}" is not supported`,
      );
      return;
    }
    task.maxConcurrency = Number(limit);
    this.sources.set(`${at}.maxConcurrency`, `${at}.synchronization.maxConcurrency`);
  }

  /**
   * A foreach whose iterations keep contexts of their own, as Rill runs them:
   * each iteration is a subflow of the foreach's tasks whose context starts as
   * the foreach's input with the item (and index) in it; the foreach's output
   * `sub_context` is the iterations' final contexts, in item order.
   */
  foreachOfContexts(
    raw: JsonObject,
    at: string,
    scope: Scope,
    task: JsonObject,
    parts: { item: string; indexName: string | undefined; entries: Entry[]; output: Entry[] },
  ): JsonObject {
    const name = task.name as string;
    if (scope.iteration) {
      this.issue(
        `${at}.tasks`,
        `task "${name}": a foreach with iteration contexts inside another foreach is not supported`,
      );
      return task;
    }
    const flowId = this.childFlow(raw.tasks as unknown[], `${at}.tasks`, `each${name}`);
    if (flowId === undefined) return task;
    const iteration = `${name}-iteration`;
    task.tasks = [
      {
        name: iteration,
        kind: 'subflow',
        description: `${name}: one iteration's tasks, in a context of their own`,
        flowId,
        wait: true,
        returns: 'context',
        input: [
          ...(parts.item ? [{ source: '$.item', target: `$.input.${parts.item}` }] : []),
          ...(parts.indexName ? [{ source: '$.index', target: `$.input.${parts.indexName}` }] : []),
          ...parts.entries.map(toMapping),
        ],
        output: [],
      },
    ];
    task.collect = iteration;
    const output = parts.output.map((entry) => {
      if (entry.source === undefined || leadingNames(entry.source)[0]?.name !== 'output') return entry;
      const field = leadingNames(entry.source)[1] as NameSegment;
      return { ...entry, source: `$.output.collected${entry.source.slice(field.end)}` };
    });
    this.setOutput(task, at, output, scope);
    this.timeout(raw, at, task);
    return task;
  }

  /** The targets of a mapping list, references expanded, without reporting (the task reports them). */
  quietMappings(raw: unknown): string[] {
    if (!Array.isArray(raw)) return [];
    return raw.flatMap((mapping) => {
      if (!isObject(mapping)) return [];
      const reference = text(mapping.reference);
      const list = reference ? this.commonMapping[reference] : [mapping];
      return (Array.isArray(list) ? list : [])
        .filter(isObject)
        .filter((entry) => !blank(entry.source) || !blank(entry.transform))
        .map((entry) => normalizeRillPath(text(entry.target)?.trim() ?? ''));
    });
  }
}

/** A foreach's inputs as its iterations see them: where each top-level key of the input comes from. */
function iterationKeys(entries: Entry[], collection: string, foreach: string): Map<string, KeySource> {
  const keys = new Map<string, KeySource>();
  const counts = new Map<string, number>();
  for (const entry of entries) {
    const key = leadingNames(entry.target)[1]?.name;
    if (key !== undefined) counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  for (const entry of entries) {
    const names = leadingNames(entry.target);
    const key = names[1];
    if (!key) continue;
    let origin: KeySource;
    if ((counts.get(key.name) ?? 0) > 1 || entry.target.length !== key.end) {
      origin = {
        kind: 'unavailable',
        reason: `several mappings of foreach "${foreach}" build $.input.${key.name}`,
      };
    } else if (entry.source === undefined) {
      origin = { kind: 'value', value: entry.value };
    } else {
      const root = leadingNames(entry.source)[0]?.name;
      origin =
        root === 'context'
          ? { kind: 'path', path: entry.source }
          : {
              kind: 'unavailable',
              reason:
                root === 'item' || root === 'index'
                  ? `foreach "${foreach}" takes it from the item of an enclosing foreach, which its own iterations cannot read`
                  : `foreach "${foreach}" builds it from its own input`,
            };
    }
    keys.set(key.name, origin);
  }
  const collectionKey = leadingNames(collection)[1];
  if (collectionKey && collection.length === collectionKey.end)
    keys.set(collectionKey.name, {
      kind: 'unavailable',
      reason: "it is the foreach's collection, which Rill Flow removes from the iteration's context",
    });
  return keys;
}

/** Every task name of the DAG, at any depth. */
function collectNames(raws: unknown): string[] {
  if (!Array.isArray(raws)) return [];
  return raws.flatMap((raw) => (isObject(raw) ? [text(raw.name) ?? '', ...collectNames(raw.tasks)] : []));
}

const toMapping = (entry: Entry): Mapping => ({
  ...(entry.source !== undefined ? { source: entry.source } : {}),
  ...(entry.source === undefined ? { value: entry.value } : {}),
  target: entry.target,
  ...(entry.tolerance ? { tolerance: true } : {}),
});

/** A task_sync result whose result_type is set and not SUCCESS (any case) fails the task, as in Rill. */
export const RESULT_TYPE_FAILED =
  "$.output[?(@.result_type != null && ('' + @.result_type).toUpperCase() !== 'SUCCESS')]";

/** A condition that always holds (a return task with an empty condition list). */
const ALWAYS = '$.input[?(true)]';
