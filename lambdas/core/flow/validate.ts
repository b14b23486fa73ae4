import { JSONPath, type SafeScriptType } from 'jsonpath-plus';
import { type ValidationIssue, validationFailed } from '../errors.ts';
import { buildGraph, findCycles, reachableFrom, rootsOf } from './graph.ts';
import type { FlowDescriptor, Mapping, Task } from './model.ts';

/**
 * Semantic validation of a flow descriptor (the zod schema has checked its
 * shape): names, edges, cycles, reachability, JSONPaths and per-kind rules.
 * Every problem is reported at once, each with the dotted path of the field
 * at fault (`tasks.3.dependsOn.0`; inside a foreach `tasks.2.tasks.1.name`).
 */
export function validateFlow(descriptor: FlowDescriptor): void {
  const issues: ValidationIssue[] = [];
  validateTasks(descriptor.tasks, { path: 'tasks', outerNames: new Set() }, issues);
  if (issues.length === 0) return;
  const [first] = issues as [ValidationIssue];
  const more =
    issues.length > 1 ? ` (and ${issues.length - 1} more problem${issues.length > 2 ? 's' : ''})` : '';
  throw validationFailed(
    `flow "${descriptor.name}" is invalid: ${first.path}: ${first.message}${more}`,
    issues,
  );
}

interface Scope {
  /** Path of the task list: `tasks` or `tasks.2.tasks`. */
  path: string;
  /** The enclosing foreach task, when inside one. */
  foreach?: string;
  /** Names of the enclosing scopes' tasks (to explain scoping mistakes). */
  outerNames: ReadonlySet<string>;
}

function validateTasks(tasks: readonly Task[], scope: Scope, issues: ValidationIssue[]): void {
  const at = (index: number, ...rest: Array<string | number>) => [scope.path, index, ...rest].join('.');
  const firstIndex = new Map<string, number>();
  tasks.forEach((task, index) => {
    const first = firstIndex.get(task.name);
    if (first === undefined) firstIndex.set(task.name, index);
    else
      issues.push({
        path: at(index, 'name'),
        message: `duplicate task name "${task.name}": ${at(first)} already uses it`,
      });
  });
  const names = [...firstIndex.keys()];
  const unknownTask = (name: string): string => {
    if (scope.foreach && scope.outerNames.has(name))
      return `unknown task "${name}": tasks inside foreach "${scope.foreach}" can only refer to tasks of the same foreach`;
    const guess = closest(name, names);
    return `unknown task "${name}"${guess ? `; did you mean "${guess}"?` : ''}`;
  };
  const byName = (name: string) => tasks[firstIndex.get(name) as number] as Task;

  tasks.forEach((task, index) => {
    task.dependsOn.forEach((upstream, position) => {
      if (!firstIndex.has(upstream))
        issues.push({ path: at(index, 'dependsOn', position), message: unknownTask(upstream) });
      else if (task.dependsOn.indexOf(upstream) !== position)
        issues.push({
          path: at(index, 'dependsOn', position),
          message: `"${upstream}" is listed twice in dependsOn`,
        });
    });
    const checkTarget = (target: string, path: string) => {
      if (!firstIndex.has(target)) issues.push({ path, message: unknownTask(target) });
      else if (!byName(target).dependsOn.includes(task.name))
        issues.push({
          path,
          message: `choice target "${target}" must be a direct downstream of "${task.name}": add "${task.name}" to its dependsOn`,
        });
    };
    const paths = new PathChecker(issues, scope.foreach !== undefined);
    for (const [position, mapping] of task.input.entries())
      paths.mapping(mapping, at(index, 'input', position), 'input');
    for (const [position, mapping] of task.output.entries())
      paths.mapping(mapping, at(index, 'output', position), 'output');
    if (task.successCondition !== undefined)
      paths.condition(task.successCondition, at(index, 'successCondition'), OUTPUT_CONDITION_ROOTS);
    if (task.failCondition !== undefined)
      paths.condition(task.failCondition, at(index, 'failCondition'), OUTPUT_CONDITION_ROOTS);
    switch (task.kind) {
      case 'choice':
        task.branches.forEach((branch, b) => {
          paths.condition(branch.condition, at(index, 'branches', b, 'condition'), INPUT_CONDITION_ROOTS);
          branch.next.forEach((target, k) => {
            checkTarget(target, at(index, 'branches', b, 'next', k));
          });
        });
        task.otherwise.forEach((target, k) => {
          checkTarget(target, at(index, 'otherwise', k));
        });
        break;
      case 'return':
        paths.condition(task.condition, at(index, 'condition'), INPUT_CONDITION_ROOTS);
        break;
      case 'wait': {
        const given = [
          task.seconds !== undefined && 'seconds',
          task.until !== undefined && 'until',
          task.wakeUp && 'wakeUp',
        ].filter((field): field is string => field !== false);
        if (given.length === 0)
          issues.push({ path: at(index), message: 'a wait task needs one of seconds, until or wakeUp' });
        else if (given.length > 1)
          issues.push({
            path: at(index, given[1] as string),
            message: `a wait task takes only one of seconds, until or wakeUp; it has ${given.join(' and ')}`,
          });
        break;
      }
      case 'foreach':
        paths.path(task.items, at(index, 'items'), ITEMS_ROOTS, 'the items of a foreach', false);
        if (task.collect !== undefined && !task.tasks.some((inner) => inner.name === task.collect))
          issues.push({
            path: at(index, 'collect'),
            message: `collect names "${task.collect}", which is no task of foreach "${task.name}"`,
          });
        validateTasks(
          task.tasks,
          {
            path: at(index, 'tasks'),
            foreach: task.name,
            outerNames: new Set([...scope.outerNames, ...names]),
          },
          issues,
        );
        break;
      default:
        break;
    }
  });

  const graph = buildGraph(tasks);
  const onCycle = new Set<string>();
  for (const { tasks: cycle, component } of findCycles(graph)) {
    for (const name of component) onCycle.add(name);
    const start = cycle[0] as string;
    const closing = cycle[cycle.length - 1] as string;
    issues.push({
      path: at(firstIndex.get(start) as number, 'dependsOn', byName(start).dependsOn.indexOf(closing)),
      message: `cycle: ${[...cycle, start].join(' → ')}`,
    });
  }
  // Tasks whose only upstreams are unknown count as starts: their edges are already reported.
  const reached = reachableFrom(graph, rootsOf(graph));
  for (const name of names) {
    if (reached.has(name) || onCycle.has(name)) continue;
    issues.push({
      path: at(firstIndex.get(name) as number),
      message: `task "${name}" can never start: it is not reachable from any task without upstreams (it waits on a cycle)`,
    });
  }
}

// ---------------------------------------------------------------------------
// JSONPath

/**
 * Where each kind of JSONPath may point (the first name after `$`): the
 * documents the runner evaluates them on (lambdas/core/engine/mappings.ts,
 * json-path.ts). Input mappings build `$.input` from `{context, input, item,
 * index}`; output mappings update `$.context` from `{context, input, output,
 * item, index}`; a foreach reads its items from `{input}`; choice and return
 * conditions test `{input}`, success and fail conditions `{input, output}`.
 */
const INPUT_SOURCE_ROOTS = ['context', 'input'];
const INPUT_TARGET_ROOTS = ['input'];
const OUTPUT_SOURCE_ROOTS = ['output', 'input', 'context'];
const OUTPUT_TARGET_ROOTS = ['context'];
const ITEMS_ROOTS = ['input'];
const INPUT_CONDITION_ROOTS = ['input'];
const OUTPUT_CONDITION_ROOTS = ['output', 'input'];
/** Readable by mapping sources inside a foreach iteration. */
const ITERATION_ROOTS = ['item', 'index'];

const listRoots = (roots: readonly string[]): string => {
  const shown = roots.map((root) => `$.${root}`);
  return shown.length === 1 ? (shown[0] as string) : `${shown.slice(0, -1).join(', ')} or ${shown.at(-1)}`;
};

class PathChecker {
  readonly issues: ValidationIssue[];
  readonly inForeach: boolean;

  constructor(issues: ValidationIssue[], inForeach: boolean) {
    this.issues = issues;
    this.inForeach = inForeach;
  }

  mapping(mapping: Mapping, path: string, direction: 'input' | 'output'): void {
    const [sources, targets] =
      direction === 'input'
        ? [INPUT_SOURCE_ROOTS, INPUT_TARGET_ROOTS]
        : [OUTPUT_SOURCE_ROOTS, OUTPUT_TARGET_ROOTS];
    const what = direction === 'input' ? 'input mappings' : 'output mappings';
    if (mapping.source !== undefined)
      this.path(mapping.source, `${path}.source`, sources, `the source of ${what}`, true);
    const target = this.path(mapping.target, `${path}.target`, targets, `the target of ${what}`, false);
    if (target?.some((segment) => segment.kind !== 'name' && segment.kind !== 'index'))
      this.issues.push({
        path: `${path}.target`,
        message: `a mapping target must be a plain path of names and indices (no wildcards, filters, slices or ".."): "${mapping.target}"`,
      });
  }

  condition(condition: string, path: string, roots: readonly string[]): void {
    const segments = this.path(condition, path, roots, 'a condition', false);
    if (segments && !segments.some((segment) => segment.kind === 'filter'))
      this.issues.push({
        path,
        message: `a condition must be a JSONPath filter such as $.input[?(@.score > 60)]: "${condition}" has no [?(...)]`,
      });
  }

  /** Checks syntax and root (`$.item`/`$.index` too where `iterationReadable`); returns the segments when fine. */
  path(
    text: string,
    path: string,
    roots: readonly string[],
    what: string,
    iterationReadable: boolean,
  ): JsonPathSegment[] | undefined {
    const parsed = parseJsonPath(text);
    if (!parsed.ok) {
      this.issues.push({ path, message: `invalid JSONPath "${text}": ${parsed.reason}` });
      return undefined;
    }
    const [first] = parsed.segments;
    const root = first?.kind === 'name' ? first.name : undefined;
    const allowed = this.inForeach && iterationReadable ? [...roots, ...ITERATION_ROOTS] : roots;
    if (root !== undefined && allowed.includes(root)) return parsed.segments;
    const message =
      root !== undefined && iterationReadable && ITERATION_ROOTS.includes(root)
        ? `$.${root} is only available inside a foreach`
        : `${what} must start with ${listRoots(allowed)}: "${text}"`;
    this.issues.push({ path, message });
    return undefined;
  }
}

export type JsonPathSegment =
  | { kind: 'name'; name: string }
  | { kind: 'index'; index: number }
  | { kind: 'wildcard' }
  | { kind: 'descendants' }
  | { kind: 'slice' }
  | { kind: 'union' }
  | { kind: 'filter'; expression: string };

export type JsonPathParse = { ok: true; segments: JsonPathSegment[] } | { ok: false; reason: string };

const NAME_CHAR = /[\p{L}\p{N}_$-]/u;

/**
 * A strict parser for the JSONPath dialect that jsonpath-plus evaluates:
 * `$`, `.name`, `.*`, `..`, `[n]`, `['name']`, `[*]`, unions, slices and
 * filters `[?(...)]`. Filters must parse, and use only what jsonpath-plus's
 * `eval: 'safe'` evaluator accepts (`@`, `@root`, `@parent`, `@property`,
 * `@parentProperty`, `@path`, literals, operators, member access and calls).
 * Script expressions `[(...)]` are refused: they fail at run time.
 */
export function parseJsonPath(text: string): JsonPathParse {
  const fail = (reason: string): JsonPathParse => ({ ok: false, reason });
  if (!text.startsWith('$')) return fail('must start with "$"');
  if (text.startsWith('$$')) return fail('"$$" (the Step Functions context) is not available here');
  const segments: JsonPathSegment[] = [];
  let i = 1;
  const readName = (): string => {
    const start = i;
    while (i < text.length && NAME_CHAR.test(text[i] as string)) i += 1;
    return text.slice(start, i);
  };
  while (i < text.length) {
    const char = text[i];
    if (char === '.') {
      const descendants = text[i + 1] === '.';
      i += descendants ? 2 : 1;
      // jsonpath-plus reads ".[" like "..[": a recursive descent into the bracket.
      if (descendants || text[i] === '[') segments.push({ kind: 'descendants' });
      if (text[i] === '[') continue;
      if (text[i] === '*') {
        segments.push({ kind: 'wildcard' });
        i += 1;
        continue;
      }
      const name = readName();
      if (name === '') {
        return fail(
          i >= text.length
            ? `ends with "${descendants ? '..' : '.'}"; a name must follow`
            : `unexpected "${text[i]}" at character ${i + 1}; use ['...'] for names with special characters`,
        );
      }
      segments.push({ kind: 'name', name });
      continue;
    }
    if (char === '[') {
      const bracket = parseBracket(text, i);
      if ('reason' in bracket) return fail(bracket.reason);
      segments.push(bracket.segment);
      i = bracket.end;
      continue;
    }
    return fail(`unexpected "${char}" at character ${i + 1}`);
  }
  return { ok: true, segments };
}

const INTEGER = /^\s*-?\d+\s*$/;
const SLICE = /^\s*-?\d*\s*:\s*-?\d*\s*(:\s*-?\d*\s*)?$/;
const INTEGER_UNION = /^\s*-?\d+\s*(,\s*-?\d+\s*)+$/;

function parseBracket(
  text: string,
  open: number,
): { segment: JsonPathSegment; end: number } | { reason: string } {
  let i = open + 1;
  while (text[i] === ' ') i += 1;
  const char = text[i];
  if (char === '?' && text[i + 1] === '(') {
    const close = matchingParenthesis(text, i + 1);
    if (close < 0) return { reason: `unclosed "(" in the filter starting at character ${i + 1}` };
    let end = close + 1;
    while (text[end] === ' ') end += 1;
    if (text[end] !== ']') return { reason: `expected "]" after the filter at character ${end + 1}` };
    const expression = text.slice(i + 2, close);
    const problem = checkFilterExpression(expression);
    if (problem) return { reason: `filter "${expression}": ${problem}` };
    return { segment: { kind: 'filter', expression }, end: end + 1 };
  }
  if (char === '(')
    return { reason: 'script expressions like [(...)] are not supported; use an index or a filter [?(...)]' };
  if (char === "'" || char === '"') {
    const names: string[] = [];
    for (;;) {
      const quoted = readQuoted(text, i);
      if (!quoted) return { reason: `unclosed quote at character ${i + 1}` };
      names.push(quoted.value);
      i = quoted.end;
      while (text[i] === ' ') i += 1;
      if (text[i] === ']') break;
      if (text[i] !== ',') return { reason: `expected "]" or "," at character ${i + 1}` };
      i += 1;
      while (text[i] === ' ') i += 1;
      if (text[i] !== "'" && text[i] !== '"')
        return { reason: `expected a quoted name at character ${i + 1}` };
    }
    const segment: JsonPathSegment =
      names.length === 1 ? { kind: 'name', name: names[0] as string } : { kind: 'union' };
    return { segment, end: i + 1 };
  }
  const close = text.indexOf(']', i);
  if (close < 0) return { reason: `unclosed "[" at character ${open + 1}` };
  const inner = text.slice(i, close);
  if (inner.trim() === '*') return { segment: { kind: 'wildcard' }, end: close + 1 };
  if (INTEGER.test(inner)) return { segment: { kind: 'index', index: Number(inner) }, end: close + 1 };
  if (SLICE.test(inner)) return { segment: { kind: 'slice' }, end: close + 1 };
  if (INTEGER_UNION.test(inner)) return { segment: { kind: 'union' }, end: close + 1 };
  return {
    reason:
      inner.trim() === ''
        ? `empty "[]" at character ${open + 1}`
        : `"[${inner}]" is not an index, a quoted name, "*", a slice or a filter [?(...)]`,
  };
}

function readQuoted(text: string, start: number): { value: string; end: number } | undefined {
  const quote = text[start];
  let value = '';
  for (let i = start + 1; i < text.length; i += 1) {
    const char = text[i] as string;
    if (char === '\\') {
      value += text[i + 1] ?? '';
      i += 1;
    } else if (char === quote) {
      return { value, end: i + 1 };
    } else {
      value += char;
    }
  }
  return undefined;
}

/** Index of the ")" closing the "(" at `open`, skipping quoted strings; -1 when unclosed. */
function matchingParenthesis(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i += 1) {
    const char = text[i];
    if (char === "'" || char === '"') {
      const quoted = readQuoted(text, i);
      if (!quoted) return -1;
      i = quoted.end - 1;
    } else if (char === '(') {
      depth += 1;
    } else if (char === ')') {
      depth -= 1;
      if (depth === 0) return i;
    }
  }
  return -1;
}

// Filter expressions, exactly as jsonpath-plus prepares and parses them under `eval: 'safe'`.

interface ExpressionNode {
  type: string;
  [key: string]: unknown;
}

const SafeScript = (JSONPath.prototype as unknown as { safeVm: SafeScriptType }).safeVm.Script;

/** jsonpath-plus's own rewriting of `@`, `@root`, ... into sandbox names (string and regex literals kept). */
const AT_VARIABLES =
  /('(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*"|(?<=(?:^|[(,=:[!|?{};+\-*%<>~^]|&)\s*)\/(?:\\.|\[(?:\\.|[^\]\\])*\]|[^/\\[])+\/[dgimsuvy]*)|@(?:(parentProperty|parent|property|root|path)|(?![\w$]))/g;
const SANDBOX_NAMES = new Set([
  '_$_v',
  '_$_root',
  '_$_parent',
  '_$_parentProperty',
  '_$_property',
  '_$_path',
]);
const BLOCKED_PROPERTIES = new Set([
  'constructor',
  '__proto__',
  '__defineGetter__',
  '__defineSetter__',
  '__lookupGetter__',
  '__lookupSetter__',
]);

/** Why a filter expression would not evaluate under `eval: 'safe'`, or undefined when it would. */
export function checkFilterExpression(expression: string): string | undefined {
  if (expression.trim() === '') return 'the filter is empty';
  const script = expression.replace(
    AT_VARIABLES,
    (_match: string, literal: string | undefined, name: string | undefined) => literal ?? `_$_${name ?? 'v'}`,
  );
  let ast: ExpressionNode;
  try {
    ast = (new SafeScript(script) as unknown as { ast: ExpressionNode }).ast;
  } catch (error) {
    return (error as Error).message.replace(/ at character \d+$/, '');
  }
  return unsupported(ast);
}

function unsupported(node: ExpressionNode | null | undefined): string | undefined {
  if (!node) return undefined;
  const child = (key: string) => node[key] as ExpressionNode | null | undefined;
  switch (node.type) {
    case 'Literal':
      return undefined;
    case 'Identifier':
      return SANDBOX_NAMES.has(node.name as string)
        ? undefined
        : `unknown name "${node.name}"; refer to the current value as @, e.g. @.${node.name}`;
    case 'MemberExpression': {
      const property = child('property');
      const name = node.computed ? property?.value : property?.name;
      if (typeof name === 'string' && BLOCKED_PROPERTIES.has(name))
        return `property "${name}" is not allowed`;
      return unsupported(child('object')) ?? (node.computed ? unsupported(property) : undefined);
    }
    case 'BinaryExpression':
    case 'LogicalExpression':
      return unsupported(child('left')) ?? unsupported(child('right'));
    case 'UnaryExpression':
      return unsupported(child('argument'));
    case 'ConditionalExpression':
      return (
        unsupported(child('test')) ?? unsupported(child('consequent')) ?? unsupported(child('alternate'))
      );
    case 'ArrayExpression':
      return firstProblem(node.elements as ExpressionNode[]);
    case 'CallExpression':
      return unsupported(child('callee')) ?? firstProblem(node.arguments as ExpressionNode[]);
    case 'AssignmentExpression':
    case 'UpdateExpression':
      return '"=" assigns a value; compare with "==" or "==="';
    case 'Compound':
      return (node.body as unknown[]).length === 0
        ? 'the filter is empty'
        : 'two expressions side by side (is an operator missing?)';
    default:
      return `unsupported expression (${node.type})`;
  }
}

const firstProblem = (nodes: readonly ExpressionNode[]): string | undefined => {
  for (const node of nodes) {
    const problem = unsupported(node);
    if (problem) return problem;
  }
  return undefined;
};

/** The closest name within an edit distance of 2 (or a third of its length), for "did you mean". */
function closest(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(name.length / 3)) + 1;
  for (const candidate of candidates) {
    const distance = editDistance(name, candidate, bestDistance);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function editDistance(a: string, b: string, cap: number): number {
  if (Math.abs(a.length - b.length) >= cap) return cap;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current.push(
        Math.min(
          (previous[j] as number) + 1,
          (current[j - 1] as number) + 1,
          (previous[j - 1] as number) + cost,
        ),
      );
    }
    previous = current;
  }
  return previous[b.length] as number;
}
