import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import {
  normalizeRillPath,
  parseConstant,
  parseRillDescriptor,
  RESULT_TYPE_FAILED,
  type RillDescriptorOptions,
  type RillDescriptorTranslation,
} from '../../lambdas/core/dialects/rill-flow/descriptor.ts';
import { type JsonObject, matches } from '../../lambdas/core/engine/json-path.ts';
import { mapInput, mapOutput } from '../../lambdas/core/engine/mappings.ts';
import type { ExecutionRecord } from '../../lambdas/core/engine/records.ts';
import { EngineRecords } from '../../lambdas/core/engine/records.ts';
import { TaskRunner } from '../../lambdas/core/engine/runner.ts';
import { isDomainError, type ValidationIssue } from '../../lambdas/core/errors.ts';
import { type FlowDescriptor, flowDescriptorSchema, type Task } from '../../lambdas/core/flow/model.ts';
import type { HttpCallRequest } from '../../lambdas/ports/http-caller.ts';
import type {
  ItemKey,
  MetadataStore,
  NewItem,
  Page,
  StoredItem,
} from '../../lambdas/ports/metadata-store.ts';

/**
 * Rill Flow descriptors (seed 003) translated into canonical flows: every
 * category, pattern and mapping form, every refusal, and the async task's
 * `request: input` mode the translation relies on.
 */

const options: RillDescriptorOptions = {
  callbackUrl: ({ executionId, task }) =>
    `https://sluice.test/flow/finish.json?executionId=${executionId}&taskName=${task}`,
};

const dag = (tasks: unknown[], extra: Record<string, unknown> = {}): string =>
  stringify({ version: '0.0.1', workspace: 'ws', dagName: 'demo', type: 'flow', ...extra, tasks });

const translate = (yaml: string, given: RillDescriptorOptions = options): RillDescriptorTranslation =>
  parseRillDescriptor(yaml, given);

const fn = (name: string, extra: Record<string, unknown> = {}) => ({
  category: 'function',
  name,
  pattern: 'task_sync',
  resourceName: 'http://executor.test/run.json',
  ...extra,
});
const pass = (name: string, extra: Record<string, unknown> = {}) => ({ category: 'pass', name, ...extra });

/** A task of the translated flow by name, at any depth. */
function taskOf(translation: RillDescriptorTranslation, name: string): Task {
  const find = (tasks: readonly Task[]): Task | undefined => {
    for (const task of tasks) {
      if (task.name === name) return task;
      const inner = task.kind === 'foreach' ? find(task.tasks) : undefined;
      if (inner) return inner;
    }
    return undefined;
  };
  const found = find(translation.descriptor.tasks);
  assert.ok(found, `no task ${name}`);
  return found;
}

function errorOf(yaml: string, given: RillDescriptorOptions = options) {
  try {
    translate(yaml, given);
  } catch (error) {
    assert.ok(isDomainError(error), `a DomainError, not ${String(error)}`);
    return error;
  }
  assert.fail('expected the descriptor to be refused');
}

/** The validation issues of a refused descriptor. */
function issuesOf(yaml: string, given: RillDescriptorOptions = options): ValidationIssue[] {
  const error = errorOf(yaml, given);
  assert.equal(error.kind, 'validation', error.message);
  return [...error.issues];
}

/** Asserts one issue at `path` whose message matches every pattern. */
function assertIssue(issues: readonly ValidationIssue[], path: string, ...patterns: RegExp[]) {
  const found = issues.find(
    (issue) => issue.path === path && patterns.every((pattern) => pattern.test(issue.message)),
  );
  assert.ok(
    found,
    `no issue at ${path} matching ${patterns.join(' ')} in ${JSON.stringify(issues, null, 1)}`,
  );
}

// The seed's example (seed 003, "创建工作流"), with the indentation its extraction lost restored.
const SEED_EXAMPLE = readFileSync(new URL('../fixtures/rill-seed-example.yaml', import.meta.url), 'utf8');

// The same text exactly as the seed document shows it (every line flush left).
const SEED_AS_EXTRACTED = SEED_EXAMPLE.split('\n')
  .map((line) => line.trimStart())
  .join('\n');

describe('Rill Flow descriptor: the seed example', () => {
  it('translates into a valid canonical flow that keeps the document', () => {
    const translation = translate(SEED_EXAMPLE);
    const { descriptor } = translation;
    assert.equal(descriptor.name, 'demoFlowTest:demoTest');
    assert.equal(descriptor.version, '20230829');
    assert.equal(translation.descriptorId, 'demoFlowTest:demoTest');
    assert.equal(translation.workspace, 'demoFlowTest');
    assert.equal(translation.dagName, 'demoTest');
    assert.deepEqual(translation.document, parse(SEED_EXAMPLE));
    assert.deepEqual(descriptor.source, { dialect: 'rill-flow', document: translation.document });
    assert.equal(translation.callback, undefined);

    const start = taskOf(translation, 'startNode');
    assert.equal(start.kind, 'http');
    assert.ok(start.kind === 'http');
    assert.equal(start.url, 'http://127.0.0.1:8080/flow/sample/start_node.json');
    assert.equal(start.method, 'POST');
    assert.deepEqual(start.dependsOn, []);
    assert.deepEqual(start.input, [
      { source: '$.context.right', target: '$.input.right', tolerance: true },
      { source: '$.context.left', target: '$.input.left', tolerance: true },
    ]);
    assert.deepEqual(start.output, [
      { source: '$.output.result_number', target: '$.context.result_number', tolerance: true },
    ]);
    assert.equal(start.failCondition, RESULT_TYPE_FAILED);

    const end = taskOf(translation, 'endNode');
    assert.deepEqual(end.dependsOn, ['startNode']);
    assert.equal(end.kind, 'http');

    // The mappings move the data as Rill Flow does.
    const context = { left: 512, right: 512 };
    assert.deepEqual(mapInput(context, start.input), { right: 512, left: 512 });
    const after = mapOutput(context, {}, { result_number: 1024 }, start.output);
    assert.deepEqual(mapInput(after, end.input), { result_number: 1024, expect_number: 1024 });
  });

  it('refuses the seed text as extracted (indentation lost) with the line and column', () => {
    const error = errorOf(SEED_AS_EXTRACTED);
    assert.equal(error.kind, 'bad-request');
    assert.match(
      error.message,
      /^Malformed Rill Flow YAML at line 15, column 1: Implicit keys need to be on a single line/,
    );
  });
});

describe('Rill Flow descriptor: YAML and top-level fields', () => {
  it('names the line and column of a YAML error', () => {
    const error = errorOf('version: 1\ntasks: [a, b\nworkspace: ws\n');
    assert.equal(error.kind, 'bad-request');
    assert.match(error.message, /line 3, column 1/);
    assert.deepEqual(
      error.issues.map((issue) => issue.path),
      error.issues.map(() => 'descriptor'),
    );
  });

  it('refuses an empty descriptor and one that is not a mapping', () => {
    assert.match(errorOf('  \n').message, /empty/);
    assert.match(errorOf('- a\n- b\n').message, /must be a YAML mapping/);
  });

  it('checks workspace, dagName and type, and accepts namespace/service for them', () => {
    const issues = issuesOf(dag([pass('a')], { workspace: 'my-ws', dagName: '', type: 'resource' }));
    assertIssue(issues, 'workspace', /letters and digits/, /"my-ws"/);
    assertIssue(issues, 'dagName', /letters and digits/);
    assertIssue(issues, 'type', /"resource".*not supported/);
    assertIssue(issuesOf(dag([pass('a')], { type: undefined })), 'type', /must be "flow"; it is missing/);
    const legacy = translate(
      stringify({ namespace: 'old', service: 'style', type: 'flow', tasks: [pass('a')] }),
    );
    assert.equal(legacy.descriptor.name, 'old:style');
  });

  it('makes defaultContext the context defaults, parsed as Rill does', () => {
    const { descriptor } = translate(
      dag([pass('a')], {
        defaultContext: {
          n: '42',
          f: '1.5',
          yes: 'TRUE',
          list: '[1, 2]',
          map: '{"k": "v"}',
          plain: 'hi',
          raw: 7,
        },
      }),
    );
    assert.deepEqual(descriptor.parameters, {
      n: 42,
      f: 1.5,
      yes: true,
      list: [1, 2],
      map: { k: 'v' },
      plain: 'hi',
      raw: 7,
    });
  });

  it('returns the DAG callback for the caller, with its input mappings translated', () => {
    const translation = translate(
      dag([pass('a')], {
        callback: {
          resourceName: 'https://hooks.test/done',
          fullContext: true,
          inputMappings: [{ source: '$.context.sum', target: '$.input.sum' }],
        },
      }),
    );
    assert.deepEqual(translation.callback, {
      url: 'https://hooks.test/done',
      fullDagInfo: false,
      fullContext: true,
      input: [{ source: '$.context.sum', target: '$.input.sum', tolerance: true }],
    });
    assertIssue(
      issuesOf(dag([pass('a')], { callback: { resourceName: 'kafka://topic' } })),
      'callback.resourceName',
      /http\(s\) URL/,
    );
  });

  it('keeps inputSchema and unknown fields in the document and ignores them otherwise', () => {
    const translation = translate(dag([pass('a')], { inputSchema: '[{"name":"x"}]', extra: { any: 1 } }));
    assert.equal(translation.document.inputSchema, '[{"name":"x"}]');
    assert.deepEqual(translation.document.extra, { any: 1 });
  });

  it('refuses a DAG timeout and the output shorthand', () => {
    const issues = issuesOf(dag([pass('a')], { timer: { timeoutInSeconds: 60 }, output: { x: '$.a.x' } }));
    assertIssue(issues, 'timer.timeoutInSeconds', /not supported/);
    assertIssue(issues, 'output', /not supported/);
  });
});

describe('Rill Flow descriptor: tasks, names and next', () => {
  it('turns comma-separated and list next into dependsOn', () => {
    const translation = translate(
      dag([pass('a', { next: 'b, c' }), pass('b', { next: ['d'] }), pass('c', { next: 'd,' }), pass('d')]),
    );
    assert.deepEqual(taskOf(translation, 'b').dependsOn, ['a']);
    assert.deepEqual(taskOf(translation, 'c').dependsOn, ['a']);
    assert.deepEqual(taskOf(translation, 'd').dependsOn, ['b', 'c']);
    // A task without input mappings gets an empty input, as in Rill (not the whole context).
    assert.deepEqual(mapInput({ secret: 1 }, taskOf(translation, 'a').input), {});
  });

  it('names the task and the unknown target of a next', () => {
    const issues = issuesOf(dag([pass('a', { next: 'b,missing' }), pass('b')]));
    assertIssue(issues, 'tasks.0.next', /task "a"/, /unknown task "missing"/);
  });

  it('reports a cycle with the tasks on it, at a next of the cycle', () => {
    const issues = issuesOf(
      dag([pass('a', { next: 'b' }), pass('b', { next: 'c' }), pass('c', { next: 'a' })]),
    );
    const cycle = issues.find((issue) => /cycle/.test(issue.message));
    assert.ok(cycle, JSON.stringify(issues));
    assert.match(cycle.message, /cycle: a → c → b → a|cycle: a → b → c → a/);
    assert.match(cycle.path, /^tasks\.\d\.next$/);
  });

  it("applies Rill's name rules across the whole DAG", () => {
    const issues = issuesOf(
      dag([
        pass('bad_name'),
        pass('demo'),
        pass('x'),
        {
          category: 'foreach',
          name: 'loop',
          iterationMapping: { collection: '$.input.l', item: 'i' },
          tasks: [pass('x')],
        },
      ]),
    );
    assertIssue(issues, 'tasks.0.name', /"bad_name" must be 1 to 100 letters and digits/);
    assertIssue(issues, 'tasks.1.name', /"demo" is used by the workspace or dagName/);
    assertIssue(issues, 'tasks.3.tasks.0.name', /"x" is used by tasks.2/);
  });

  it('names the task and value of an unknown or missing category', () => {
    const issues = issuesOf(dag([{ name: 'a', category: 'loop' }, { name: 'b' }]));
    assertIssue(issues, 'tasks.0.category', /task "a": unknown category "loop"/);
    assertIssue(issues, 'tasks.1.category', /task "b": category is missing/);
  });

  it('runs each choice of a choice task as a gate and a subflow of its own, joined by the task', () => {
    const translation = translate(
      dag([
        pass('start', { next: 'route' }),
        {
          category: 'choice',
          name: 'route',
          next: 'after',
          inputMappings: [{ source: '$.context.status', target: '$.input.status' }],
          outputMappings: [{ source: '$.output.path', target: '$.context.path' }],
          choices: [
            {
              condition: '$.input[?(@.status == "ok")]',
              tasks: [
                pass('okFirst', {
                  next: 'okSecond',
                  outputMappings: [{ source: '$.input.status', target: '$.context.seen' }],
                }),
                pass('okSecond', { inputMappings: [{ source: '$.context.seen', target: '$.input.seen' }] }),
              ],
            },
            { condition: '$.input[?(@.status != "ok")]', tasks: [pass('other')] },
          ],
        },
        pass('after'),
      ]),
    );
    const names = translation.descriptor.tasks.map((task) => task.name);
    // The translated tasks keep Rill's positions; the choice's parts come after them.
    assert.deepEqual(names, [
      'start',
      'route',
      'after',
      'route-when-0',
      'route-when-1',
      'route-choice-0',
      'route-choice-1',
    ]);
    const route = taskOf(translation, 'route');
    assert.equal(route.kind, 'pass');
    assert.equal(route.join, 'any');
    assert.deepEqual(route.dependsOn, ['route-when-0', 'route-when-1', 'route-choice-0', 'route-choice-1']);
    const gate = taskOf(translation, 'route-when-0');
    assert.ok(gate.kind === 'choice');
    assert.deepEqual(gate.dependsOn, ['start']);
    assert.equal(gate.join, 'any', 'a gate joins as the choice task would');
    assert.deepEqual(gate.input, [{ source: '$.context.status', target: '$.input.status', tolerance: true }]);
    assert.deepEqual(gate.branches, [
      { condition: '$.input[?(@.status == "ok")]', next: ['route-choice-0'] },
    ]);
    assert.deepEqual(gate.otherwise, []);
    const subflow = taskOf(translation, 'route-choice-0');
    assert.ok(subflow.kind === 'subflow');
    assert.equal(subflow.wait, true);
    assert.deepEqual(subflow.dependsOn, ['route-when-0']);
    assert.deepEqual(subflow.output, [
      { source: '$.output.context.path', target: '$.context.path', tolerance: true },
    ]);
    assert.deepEqual(taskOf(translation, 'after').dependsOn, ['route']);
    // Each choice's tasks are a flow of their own, content-addressed.
    assert.equal(translation.children.length, 2);
    const [okFlow] = translation.children;
    assert.equal(subflow.flowId, okFlow?.flowId);
    assert.match(String(okFlow?.flowId), /^rill-choice-[0-9a-f]{32}$/);
    assert.deepEqual(
      okFlow?.descriptor.tasks.map((task) => [task.name, task.dependsOn]),
      [
        ['okFirst', []],
        ['okSecond', ['okFirst']],
      ],
    );
  });

  it('refuses malformed choices, naming the choice', () => {
    const issues = issuesOf(
      dag([
        { name: 'c', category: 'choice', choices: [] },
        {
          name: 'd',
          category: 'choice',
          choices: [
            { tasks: [pass('x')] },
            { condition: '$.input[?(@.a)]' },
            { condition: '$.input[?(@.a)]', tasks: [{ name: 'y', category: 'loop' }] },
          ],
        },
        {
          name: 'each',
          category: 'foreach',
          iterationMapping: { collection: '$.input.items', item: 'item' },
          inputMappings: [{ source: '$.context.items', target: '$.input.items' }],
          tasks: [
            {
              name: 'inner',
              category: 'choice',
              choices: [{ condition: '$.input[?(@.a)]', tasks: [pass('z')] }],
            },
          ],
        },
      ]),
    );
    assertIssue(issues, 'tasks.0.choices', /task "c": a choice task needs choices/);
    assertIssue(issues, 'tasks.1.choices.0.condition', /task "d": choice 0 needs a condition/);
    assertIssue(issues, 'tasks.1.choices.1.tasks', /task "d": choice 1 has no tasks/);
    assertIssue(issues, 'tasks.1.choices.2.tasks.0.category', /task "y": unknown category "loop"/);
    assertIssue(issues, 'tasks.2.tasks.0.choices', /a choice inside a foreach is not supported/);
  });

  it('refuses task features that would run differently', () => {
    const issues = issuesOf(
      dag([
        fn('a', {
          tolerance: true,
          degrade: { followings: true },
          keyCallback: true,
          templateId: '12',
          input: { x: '$.b.x' },
          outputType: 'stream',
          timeline: { suspenseIntervalSeconds: 10 },
        }),
      ]),
    );
    for (const field of ['tolerance', 'degrade', 'keyCallback', 'templateId', 'input', 'outputType'])
      assertIssue(issues, `tasks.0.${field}`, /task "a"/, /not supported/);
    assertIssue(issues, 'tasks.0.timeline.suspenseIntervalSeconds', /not supported/);
  });

  it('takes a description (or title) along', () => {
    const translation = translate(dag([pass('a', { title: 'Start here' })]));
    assert.equal(taskOf(translation, 'a').description, 'Start here');
  });
});

describe('Rill Flow descriptor: mappings', () => {
  it('reads constant sources as Rill parseSource does, and drops blank ones', () => {
    const translation = translate(
      dag([
        fn('a', {
          inputMappings: [
            { target: '$.input.seed', source: 1 },
            { target: '$.input.steps', source: '20' },
            { target: '$.input.scale', source: '7.5' },
            { target: '$.input.flag', source: 'False' },
            { target: '$.input.sampler', source: 'DPM++ 2M Karras' },
            { target: '$.input.cfg', source: '{"a": [1]}' },
            { target: '$.input.negative', source: '' },
            { target: '', source: '$.context.x' },
          ],
        }),
      ]),
    );
    assert.deepEqual(mapInput({}, taskOf(translation, 'a').input), {
      seed: 1,
      steps: 20,
      scale: 7.5,
      flag: false,
      sampler: 'DPM++ 2M Karras',
      cfg: { a: [1] },
    });
    assert.equal(parseConstant('  12  '), 12);
    assert.equal(parseConstant('[not json'), '[not json');
  });

  it('makes mappings tolerant unless tolerance is false, as Rill does', () => {
    const translation = translate(
      dag([
        fn('a', {
          inputMappings: [
            { target: '$.input.x', source: '$.context.x' },
            { target: '$.input.y', source: '$.context.y', tolerance: false },
            { target: '$.input.z', source: '$.context.z', tolerance: true },
          ],
        }),
      ]),
    );
    assert.deepEqual(
      taskOf(translation, 'a').input.map((mapping) => mapping.tolerance),
      [true, undefined, true],
    );
  });

  it("reads Jayway's `.[` as a plain step", () => {
    assert.equal(normalizeRillPath('$.output.sub_context.[*].segment'), '$.output.sub_context[*].segment');
    assert.equal(normalizeRillPath("$..['a.[b]']"), "$..['a.[b]']");
    const translation = translate(
      dag([fn('a', { outputMappings: [{ source: '$.output.list.[0]', target: '$.context.first' }] })]),
    );
    assert.equal(taskOf(translation, 'a').output[0]?.source, '$.output.list[0]');
  });

  it('expands commonMapping references and names an unknown one', () => {
    const common = { commonMapping: { user: [{ source: '$.context.uid', target: '$.input.uid' }] } };
    const translation = translate(dag([fn('a', { inputMappings: [{ reference: 'user' }] })], common));
    assert.deepEqual(taskOf(translation, 'a').input, [
      { source: '$.context.uid', target: '$.input.uid', tolerance: true },
    ]);
    assertIssue(
      issuesOf(dag([fn('a', { inputMappings: [{ reference: 'nope' }] })], common)),
      'tasks.0.inputMappings.0.reference',
      /"nope" is not in commonMapping/,
    );
  });

  it('refuses transforms, trigger URLs and mappings on the wrong side', () => {
    const issues = issuesOf(
      dag([
        fn('a', {
          inputMappings: [
            { source: '$.context.n', target: '$.input.n', transform: 'return source + 1;' },
            { source: '$.tasks.a.trigger_url', target: '$.input.url' },
            { source: '$.output.x', target: '$.input.x' },
            { source: '$.context.x', target: '$.context.y' },
          ],
          outputMappings: [{ source: '$.output.x', target: '$.input.x' }],
        }),
      ]),
    );
    assertIssue(issues, 'tasks.0.inputMappings.0.transform', /Aviator/);
    assertIssue(issues, 'tasks.0.inputMappings.1.source', /trigger_url/);
    assertIssue(issues, 'tasks.0.inputMappings.2.source', /input mappings read \$\.context or \$\.input/);
    assertIssue(issues, 'tasks.0.inputMappings.3.target', /input mappings write \$\.input/);
    assertIssue(issues, 'tasks.0.outputMappings.0.target', /output mappings write \$\.context/);
  });

  it('reports what the canonical validator finds at the Rill field, naming the task', () => {
    const issues = issuesOf(
      dag([fn('a', { inputMappings: [{ source: '$.context.x', target: '$.input.list[*]' }] })]),
    );
    assertIssue(issues, 'tasks.0.inputMappings.0.target', /task "a"/, /plain path/);
    const url = issuesOf(dag([fn('a', { resourceName: 'http://<executor-host>:9000/run' })]));
    assertIssue(url, 'tasks.0.resourceName', /task "a"/);
  });

  it('fills function parameters in as input defaults that mappings override', () => {
    const translation = translate(
      dag([
        fn('a', {
          parameters: { apikey: 'k', prompt: 'default', 'odd key': 1 },
          inputMappings: [
            { source: '$.context.prompt', target: '$.input.prompt' },
            { source: '$.context.absent', target: '$.input.apikey' },
          ],
        }),
      ]),
    );
    assert.deepEqual(mapInput({ prompt: 'given' }, taskOf(translation, 'a').input), {
      apikey: 'k',
      prompt: 'given',
      'odd key': 1,
    });
  });
});

describe('Rill Flow descriptor: function tasks', () => {
  it('task_sync: a POST by default, GET with requestType, constant query and headers, body fields', () => {
    const translation = translate(
      dag([
        fn('a', {
          resourceName: 'http://executor.test/run.json?v=1',
          inputMappings: [
            { source: 'application/json; charset=utf-8', target: '$.input.header.content-type' },
            { source: '{"X-Team": "data"}', target: '$.input.request_header_extra' },
            { source: 'a b', target: '$.input.query.q' },
            { source: '$.context.title', target: '$.input.body.title' },
            { source: '$.context.n', target: '$.input.n' },
          ],
        }),
        fn('b', { requestType: 'get' }),
      ]),
    );
    const a = taskOf(translation, 'a');
    assert.ok(a.kind === 'http');
    assert.equal(a.method, 'POST');
    assert.equal(a.url, 'http://executor.test/run.json?v=1&q=a%20b');
    assert.deepEqual(a.headers, { 'content-type': 'application/json; charset=utf-8', 'X-Team': 'data' });
    assert.deepEqual(mapInput({ title: 'T', n: 3 }, a.input), { title: 'T', n: 3 });
    const b = taskOf(translation, 'b');
    assert.ok(b.kind === 'http');
    assert.equal(b.method, 'GET');
  });

  it('task_sync: refuses what its HTTP request cannot carry', () => {
    const issues = issuesOf(
      dag([
        fn('a', { inputMappings: [{ source: '$.context.user', target: '$.input.query.user' }] }),
        fn('b', {
          inputMappings: [
            { source: 'application/x-www-form-urlencoded', target: '$.input.header.content-type' },
          ],
        }),
        fn('c', { inputMappings: [{ source: '{"url": "x"}', target: '$.input.request_callback_x' }] }),
        fn('d', { requestType: 'put' }),
      ]),
    );
    assertIssue(
      issues,
      'tasks.0.inputMappings.0.source',
      /task "a"/,
      /query parameters can only be constants/,
    );
    assertIssue(issues, 'tasks.1.inputMappings', /form-encoded/);
    assertIssue(issues, 'tasks.2.inputMappings.0', /request_callback_x/);
    assertIssue(issues, 'tasks.3.requestType', /task "d": requestType "put"/);
  });

  it('task_sync: result_type decides unless success or fail conditions do', () => {
    const translation = translate(
      dag([
        fn('plain'),
        fn('success', {
          successConditions: ['$.output.[?(@.code == 0)]', '$.output[?(@.data)]'],
          failConditions: ['$.output[?(@.code != 0)]'],
        }),
        fn('fail', { failConditions: ['$.output[?(@.error)]'] }),
      ]),
    );
    const plain = taskOf(translation, 'plain');
    assert.equal(plain.failCondition, RESULT_TYPE_FAILED);
    const check = (output: JsonObject) => matches(RESULT_TYPE_FAILED, { input: {}, output });
    assert.equal(check({ result_type: 'SUCCESS' }), false);
    assert.equal(check({ result_type: 'success' }), false);
    assert.equal(check({ sum: 1 }), false);
    assert.equal(check({ result_type: 'FAIL' }), true);
    const success = taskOf(translation, 'success');
    assert.equal(success.successCondition, '$.output[?((@.code == 0) && (@.data))]');
    assert.equal(
      success.failCondition,
      undefined,
      'Rill ignores failConditions when successConditions are set',
    );
    assert.equal(matches(success.successCondition as string, { output: { code: 0, data: 1 } }), true);
    assert.equal(matches(success.successCondition as string, { output: { code: 0 } }), false);
    const fail = taskOf(translation, 'fail');
    assert.equal(fail.failCondition, '$.output[?(@.error)]');
    assert.equal(fail.successCondition, undefined);
  });

  it('refuses conditions it cannot evaluate the same way', () => {
    const issues = issuesOf(
      dag([
        fn('a', {
          successConditions: [
            '$.output.code',
            '$.output[?(@.name =~ /a.*/)]',
            '$.input[?(@.x)]',
            '$.output[?(@.a = 1)]',
            '$.output[?(@.tags.length() > 1)]',
            '$.output.data[?(@.x)]',
          ],
        }),
      ]),
    );
    assertIssue(issues, 'tasks.0.successConditions.0', /task "a"/, /must be one filter on \$\.output/);
    assertIssue(issues, 'tasks.0.successConditions.1', /Jayway's "=~"/);
    assertIssue(issues, 'tasks.0.successConditions.2', /one filter on \$\.output/);
    assertIssue(issues, 'tasks.0.successConditions.3', /assigns/);
    assertIssue(issues, 'tasks.0.successConditions.4', /Jayway's "\.length\(\)"/);
    assertIssue(issues, 'tasks.0.successConditions.5', /one filter on \$\.output/);
  });

  it('task_async: an async task posting the input with the Rill executor headers', () => {
    const translation = translate(
      dag([
        fn('a', {
          pattern: 'task_async',
          resourceName: 'http://bark.test/generate',
          inputMappings: [
            { source: '$.context.text', target: '$.input.text' },
            { source: 'v2', target: '$.input.header.X-Voice' },
          ],
          outputMappings: [{ source: '$.output.audio_path', target: '$.context.audio_path' }],
          successConditions: ['$.output[?(@.audio_path)]'],
        }),
      ]),
    );
    const a = taskOf(translation, 'a');
    assert.ok(a.kind === 'async');
    assert.equal(a.request, 'input');
    assert.equal(a.url, 'http://bark.test/generate?execution_id=${executionId}&name=${task}');
    assert.deepEqual(a.headers, {
      'X-Voice': 'v2',
      'X-Mode': 'async',
      'X-Callback-Url': 'https://sluice.test/flow/finish.json?executionId=${executionId}&taskName=${task}',
    });
    assert.equal(a.successCondition, '$.output[?(@.audio_path)]');
    assert.equal(
      a.failCondition,
      undefined,
      'the callback tells success; result_type is not read from the output',
    );
    assert.deepEqual(a.output, [
      { source: '$.output.audio_path', target: '$.context.audio_path', tolerance: true },
    ]);
  });

  it('flow_sync and flow_async: subflows of a descriptor id, their output rewritten', () => {
    const translation = translate(
      dag([
        fn('sync', {
          pattern: 'flow_sync',
          resourceName: 'rillflow://biz:child',
          next: 'async',
          outputMappings: [
            { source: '$.output.sum', target: '$.context.sum' },
            { source: '$.output', target: '$.context.all' },
          ],
        }),
        fn('async', {
          pattern: 'flow_async',
          resourceName: 'rillflow://biz:child:gray',
          outputMappings: [{ source: '$.output.execution_id', target: '$.context.child' }],
          successConditions: ['$.output[?(@.x)]'],
        }),
      ]),
    );
    const sync = taskOf(translation, 'sync');
    assert.ok(sync.kind === 'subflow');
    assert.equal(sync.flowId, 'biz:child');
    assert.equal(sync.wait, true);
    assert.deepEqual(
      sync.output.map((mapping) => mapping.source),
      ['$.output.context.sum', '$.output.context'],
    );
    const async = taskOf(translation, 'async');
    assert.ok(async.kind === 'subflow');
    assert.equal(async.wait, false);
    assert.equal(async.flowId, 'biz:child:gray');
    assert.equal(async.successCondition, undefined, 'Rill ignores conditions of flow_async');
    assert.deepEqual(
      async.output.map((mapping) => mapping.source),
      ['$.output.executionId'],
    );
    assert.deepEqual(translation.subflows, { sync: 'biz:child', async: 'biz:child:gray' });
    const mapped = translate(dag([fn('s', { pattern: 'flow_sync', resourceName: 'rillflow://biz:child' })]), {
      ...options,
      subflowFlowId: (id) => `rill-${id.replace(':', '-')}`,
    });
    assert.equal((taskOf(mapped, 's') as { flowId: string }).flowId, 'rill-biz-child');
  });

  it('refuses subflow mismatches and output a subflow does not have', () => {
    const issues = issuesOf(
      dag([
        fn('a', { pattern: 'flow_sync', resourceName: 'http://x.test/' }),
        fn('b', { pattern: 'task_sync', resourceName: 'rillflow://biz:child' }),
        fn('c', { pattern: 'flow_sync', resourceName: 'rillflow://not valid' }),
        fn('d', {
          pattern: 'flow_sync',
          resourceName: 'rillflow://biz:child',
          successConditions: ['$.output[?(@.x)]'],
        }),
        fn('e', {
          pattern: 'flow_async',
          resourceName: 'rillflow://biz:child',
          outputMappings: [{ source: '$.output.sum', target: '$.context.sum' }],
        }),
      ]),
    );
    assertIssue(issues, 'tasks.0.resourceName', /task "a": pattern flow_sync needs a rillflow:/);
    assertIssue(
      issues,
      'tasks.1.resourceName',
      /rillflow:\/\/ resource needs pattern flow_sync or flow_async/,
    );
    assertIssue(issues, 'tasks.2.resourceName', /rillflow:\/\/business:feature/);
    assertIssue(issues, 'tasks.3.successConditions', /not supported/);
    assertIssue(issues, 'tasks.4.outputMappings.0.source', /only \{execution_id\}/);
  });

  it('names the task and value of an unknown, missing or unsupported pattern or resource', () => {
    const issues = issuesOf(
      dag([
        fn('a', { pattern: 'task_later' }),
        fn('b', { pattern: undefined }),
        fn('c', { pattern: 'task_scheduler' }),
        fn('d', { resourceName: undefined, resourceProtocol: 'chatgpt' }),
        fn('e', { resourceName: 'resource://shared' }),
        fn('f', { resourceName: '' }),
        fn('g', { resource: { name: 'x' } }),
      ]),
    );
    assertIssue(issues, 'tasks.0.pattern', /task "a": unknown pattern "task_later"/);
    assertIssue(issues, 'tasks.1.pattern', /task "b": pattern is missing/);
    assertIssue(issues, 'tasks.2.pattern', /task "c": pattern "task_scheduler" is not supported/);
    assertIssue(issues, 'tasks.3.resourceName', /task "d": resource protocol "chatgpt" is not supported/);
    assertIssue(issues, 'tasks.4.resourceName', /protocol "resource"/);
    assertIssue(issues, 'tasks.5.resourceName', /resourceName is missing/);
    assertIssue(issues, 'tasks.6.resource', /inline resource/);
  });

  it('translates retry and the timeout', () => {
    const translation = translate(
      dag([
        fn('a', {
          retry: { maxRetryTimes: 3, intervalInSeconds: 2, multiplier: 2 },
          timeline: { timeoutInSeconds: '30' },
        }),
        fn('b', { retry: { maxRetryTimes: 2, intervalInSeconds: 5 }, timeline: { timeoutInSeconds: 10 } }),
        fn('c', { retry: { maxRetryTimes: 0, intervalInSeconds: 5 } }),
      ]),
    );
    const a = taskOf(translation, 'a');
    // Rill waits 2·2¹, 2·2², 2·2³ seconds; Step Functions 4, 4·2, 4·2².
    assert.deepEqual(a.retry, { maxRetries: 3, intervalSeconds: 4, backoffRate: 2 });
    assert.equal(a.timeoutSeconds, 30);
    assert.deepEqual(taskOf(translation, 'b').retry, { maxRetries: 2, intervalSeconds: 5, backoffRate: 1 });
    assert.equal(taskOf(translation, 'b').timeoutSeconds, 10);
    assert.equal(taskOf(translation, 'c').retry, undefined);
  });

  it('refuses retry and timeouts it cannot keep', () => {
    const issues = issuesOf(
      dag([
        fn('a', { retry: { maxRetryTimes: 2, multiplier: 0.5 } }),
        fn('b', { retry: { maxRetryTimes: 2, conditions: ['$.output[?(@.retry)]'] } }),
        fn('c', { timeline: { timeoutInSeconds: '$.input.timeout' } }),
        fn('d', { timeline: { timeoutInSeconds: 'soon' } }),
      ]),
    );
    assertIssue(issues, 'tasks.0.retry.multiplier', /between 1 and 10/);
    assertIssue(issues, 'tasks.1.retry.conditions', /retry conditions/);
    assertIssue(issues, 'tasks.2.timeline.timeoutInSeconds', /read from the input/);
    assertIssue(issues, 'tasks.3.timeline.timeoutInSeconds', /whole number/);
    // What only the canonical schema refuses is told at the Rill field too.
    assertIssue(
      issuesOf(dag([fn('e', { retry: { maxRetryTimes: 200 } })])),
      'tasks.0.retry.maxRetries',
      /task "e"/,
    );
  });
});

describe('Rill Flow descriptor: switch, return and suspense', () => {
  const switchDag = (cases: unknown[], extra: unknown[] = []) =>
    dag([
      pass('start', { next: 'route' }),
      {
        category: 'switch',
        name: 'route',
        inputMappings: [{ source: '$.context.num', target: '$.input.num' }],
        switches: cases,
      },
      pass('big'),
      pass('small'),
      pass('other'),
      ...extra,
    ]);

  it('turns a switch into a choice; default cases are its otherwise', () => {
    const translation = translate(
      switchDag([
        { condition: '$.input.[?(@.num >= 5)]', next: 'big', break: true },
        { condition: '$.input[?(@.num < 0)]', next: 'small,other' },
        { condition: 'default', next: 'other' },
      ]),
    );
    const route = taskOf(translation, 'route');
    assert.ok(route.kind === 'choice');
    assert.deepEqual(route.branches, [
      { condition: '$.input[?(@.num >= 5)]', next: ['big'] },
      { condition: '$.input[?(@.num < 0)]', next: ['small', 'other'] },
    ]);
    assert.deepEqual(route.otherwise, ['other']);
    for (const name of ['big', 'small', 'other'])
      assert.deepEqual(taskOf(translation, name).dependsOn, ['route']);
    assert.equal(
      matches(route.branches[0]?.condition as string, { input: mapInput({ num: 7 }, route.input) }),
      true,
    );
  });

  it('asks for break: true where Rill could run several cases, and for a next per case', () => {
    const issues = issuesOf(
      switchDag([
        { condition: '$.input[?(@.num >= 5)]', next: 'big' },
        { condition: '$.input[?(@.num < 0)]', next: 'small' },
        { condition: '$.input[?(@.num == 1)]' },
      ]),
    );
    assertIssue(issues, 'tasks.1.switches.0.break', /task "route"/, /break: true/);
    assertIssue(issues, 'tasks.1.switches.2.next', /case 2 has no next/);
  });

  it('makes a switch of default cases only a pass', () => {
    const translation = translate(switchDag([{ condition: 'default', next: 'big,small,other' }]));
    assert.equal(taskOf(translation, 'route').kind, 'pass');
    assert.deepEqual(taskOf(translation, 'other').dependsOn, ['route']);
  });

  it('merges the branches of a switch the way Rill Flow does: every task joins `any` upstream that ran', () => {
    const cases = [
      { condition: '$.input[?(@.num >= 5)]', next: 'big', break: true },
      { condition: 'default', next: 'small' },
    ];
    const translation = translate(
      dag([
        { category: 'switch', name: 'route', switches: cases },
        pass('big', { next: 'join' }),
        pass('small', { next: 'join' }),
        pass('join'),
      ]),
    );
    const join = taskOf(translation, 'join');
    assert.deepEqual(join.dependsOn, ['big', 'small']);
    assert.equal(join.join, 'any');
    assert.equal(taskOf(translation, 'route').join, 'any');
  });

  it('turns return into a return task whose conditions must all hold', () => {
    const translation = translate(
      dag([
        {
          category: 'return',
          name: 'stop',
          inputMappings: [{ source: '$.context.status', target: '$.input.status' }],
          outputMappings: [{ source: '$.output.x', target: '$.context.x' }],
          conditions: ['$.input.[?(@.status == "SUCCESS")]', '$.input[?(@.status)]'],
          next: 'after',
        },
        pass('after'),
        { category: 'return', name: 'always', conditions: [] },
      ]),
    );
    const stop = taskOf(translation, 'stop');
    assert.ok(stop.kind === 'return');
    assert.equal(stop.condition, '$.input[?((@.status == "SUCCESS") && (@.status))]');
    assert.deepEqual(stop.output, [], 'Rill Flow applies no output mappings of a return task');
    assert.deepEqual(taskOf(translation, 'after').dependsOn, ['stop']);
    const always = taskOf(translation, 'always');
    assert.ok(always.kind === 'return');
    assert.equal(matches(always.condition, { input: {} }), true);
    assertIssue(issuesOf(dag([{ category: 'return', name: 'r' }])), 'tasks.0.conditions', /needs conditions/);
    assertIssue(
      issuesOf(dag([{ category: 'return', name: 'r', conditions: ['$.output[?(@.x)]'] }])),
      'tasks.0.conditions.0',
      /one filter on \$\.input/,
    );
  });

  it('runs a task joining a return branch and another when any of them ran', () => {
    const translation = translate(
      dag([
        pass('a', { next: 'check,other' }),
        { category: 'return', name: 'check', conditions: ['$.input[?(@.done)]'], next: 'join' },
        pass('other', { next: 'join' }),
        pass('join'),
      ]),
    );
    assert.deepEqual(taskOf(translation, 'join').dependsOn, ['check', 'other']);
    assert.equal(taskOf(translation, 'join').join, 'any');
  });

  it('turns suspense into a wake-up wait and hands its conditions to the caller', () => {
    const translation = translate(
      dag([
        {
          category: 'suspense',
          name: 'approve',
          inputMappings: [{ source: '$.context.approved', target: '$.input.approved' }],
          outputMappings: [{ source: '$.output.approved', target: '$.context.approved' }],
          conditions: ['$.input[?(@.approved == true)]'],
          interruptions: ['$.input[?(@.rejected)]', '$.input[?(@.cancelled)]'],
          timeline: { timeoutInSeconds: 3600 },
        },
      ]),
    );
    const approve = taskOf(translation, 'approve');
    assert.ok(approve.kind === 'wait');
    assert.equal(approve.wakeUp, true);
    assert.equal(approve.timeoutSeconds, 3600);
    assert.deepEqual(approve.output, [
      { source: '$.output.approved', target: '$.context.approved', tolerance: true },
    ]);
    assert.deepEqual(translation.suspense, {
      approve: {
        wakeUpCondition: '$.input[?(@.approved == true)]',
        interruptCondition: '$.input[?((@.rejected) || (@.cancelled))]',
      },
    });
  });
});

describe('Rill Flow descriptor: foreach', () => {
  const loop = (tasks: unknown[], extra: Record<string, unknown> = {}) => ({
    category: 'foreach',
    name: 'loop',
    iterationMapping: { collection: '$.input.segments', item: 'segment', index: 'i' },
    inputMappings: [
      { source: '$.context.segments', target: '$.input.segments' },
      { source: '$.context.lang', target: '$.input.lang' },
      { source: 'mp4', target: '$.input.format' },
    ],
    tasks,
    ...extra,
  });

  it('iterates the collection; sub-tasks read the item, the index and the foreach inputs', () => {
    const translation = translate(
      dag([
        loop(
          [
            fn('render', {
              inputMappings: [
                { source: '$.context.segment.text', target: '$.input.text' },
                { source: '$.context.i', target: '$.input.position' },
                { source: '$.context.lang', target: '$.input.lang' },
                { source: '$.context.format', target: '$.input.format' },
              ],
              outputMappings: [{ source: '$.output.path', target: '$.context.path' }],
            }),
          ],
          { synchronization: { conditions: ['$.input[?(@.segments)]'], maxConcurrency: 2 }, next: 'done' },
        ),
        pass('done'),
      ]),
    );
    const foreach = taskOf(translation, 'loop');
    assert.ok(foreach.kind === 'foreach');
    assert.equal(foreach.items, '$.input.segments');
    assert.equal(foreach.maxConcurrency, 2);
    assert.deepEqual(
      mapInput({}, foreach.input),
      { segments: [], format: 'mp4' },
      'no collection: no iterations',
    );
    const render = taskOf(translation, 'render');
    assert.deepEqual(render.input, [
      { source: '$.item.text', target: '$.input.text', tolerance: true },
      { source: '$.index', target: '$.input.position', tolerance: true },
      { source: '$.context.lang', target: '$.input.lang', tolerance: true },
      { value: 'mp4', target: '$.input.format', tolerance: true },
    ]);
    assert.deepEqual(mapInput({ lang: 'en' }, render.input, { item: { text: 'hello' }, index: 2 }), {
      text: 'hello',
      position: 2,
      lang: 'en',
      format: 'mp4',
    });
    assert.deepEqual(render.output, [], "sub-task outputs only fill Rill's per-iteration context");
  });

  it('runs iterations that need contexts of their own as subflows, and collects them as sub_context', () => {
    const translation = translate(
      dag([
        loop(
          [
            fn('first', {
              next: 'second',
              outputMappings: [{ source: '$.output.path', target: '$.context.path' }],
            }),
            fn('second', {
              inputMappings: [
                { source: '$.context.path', target: '$.input.path' },
                { source: '$.context.segment.text', target: '$.input.text' },
              ],
            }),
          ],
          { outputMappings: [{ source: '$.output.sub_context.[*].path', target: '$.context.paths' }] },
        ),
      ]),
    );
    const foreach = taskOf(translation, 'loop');
    assert.ok(foreach.kind === 'foreach');
    assert.equal(foreach.collect, 'loop-iteration');
    assert.deepEqual(foreach.output, [
      { source: '$.output.collected[*].path', target: '$.context.paths', tolerance: true },
    ]);
    const [iteration] = foreach.tasks;
    assert.ok(iteration?.kind === 'subflow');
    assert.equal(iteration.returns, 'context');
    assert.equal(iteration.wait, true);
    // The iteration's context: the item and index under their names, and the foreach's inputs.
    assert.deepEqual(
      mapInput({ lang: 'en', segments: [{ text: 'a' }] }, iteration.input, { item: { text: 'a' }, index: 0 }),
      { segment: { text: 'a' }, i: 0, segments: [{ text: 'a' }], lang: 'en', format: 'mp4' },
    );
    const child = translation.children.find((flow) => flow.flowId === iteration.flowId);
    assert.ok(child, 'the iteration flow is stored with the descriptor');
    assert.deepEqual(
      child.descriptor.tasks.map((task) => [task.name, task.dependsOn]),
      [
        ['first', []],
        ['second', ['first']],
      ],
    );
    const second = child.descriptor.tasks[1];
    assert.deepEqual(second?.input[0], { source: '$.context.path', target: '$.input.path', tolerance: true });
  });

  it('refuses foreach outputs other than sub_context, and iteration contexts inside another foreach', () => {
    const writesAndReads = [
      fn('first', { next: 'second', outputMappings: [{ source: '$.output.p', target: '$.context.p' }] }),
      fn('second', { inputMappings: [{ source: '$.context.p', target: '$.input.p' }] }),
    ];
    const issues = issuesOf(
      dag([
        loop([fn('only')], { outputMappings: [{ source: '$.output.count', target: '$.context.count' }] }),
        {
          category: 'foreach',
          name: 'outer',
          iterationMapping: { collection: '$.input.rows', item: 'row' },
          inputMappings: [{ source: '$.context.rows', target: '$.input.rows' }],
          tasks: [{ ...loop(writesAndReads), name: 'inner' }],
        },
      ]),
    );
    assertIssue(issues, 'tasks.0.outputMappings.0.source', /task "loop"/, /holds only sub_context/);
    assertIssue(
      issues,
      'tasks.1.tasks.0.tasks',
      /task "inner": a foreach with iteration contexts inside another foreach/,
    );
  });

  it('checks the iteration mapping, the sub-tasks and their next', () => {
    const issues = issuesOf(
      dag([
        {
          category: 'foreach',
          name: 'a',
          iterationMapping: { collection: '$.context.list', item: 'x' },
          tasks: [pass('a1')],
        },
        {
          category: 'foreach',
          name: 'b',
          iterationMapping: { collection: '$.input.list' },
          tasks: [pass('b1')],
        },
        { category: 'foreach', name: 'c', iterationMapping: { item: 'x' }, tasks: [pass('c1')] },
        { category: 'foreach', name: 'd', iterationMapping: { collection: '$.input.list', item: 'x' } },
        {
          category: 'foreach',
          name: 'e',
          iterationMapping: { collection: '$.input.list', item: 'x' },
          tasks: [pass('e1', { next: 'f' })],
        },
        pass('f', { next: 'e1' }),
      ]),
    );
    assertIssue(issues, 'tasks.0.iterationMapping.collection', /starts with \$\.input/);
    assertIssue(issues, 'tasks.1.iterationMapping.item', /needs iterationMapping.item/);
    assertIssue(issues, 'tasks.2.iterationMapping.collection', /needs iterationMapping.collection/);
    assertIssue(issues, 'tasks.3.tasks', /needs tasks/);
    assertIssue(issues, 'tasks.4.tasks.0.next', /task "e1"/, /only go to tasks of the same foreach/);
    assertIssue(issues, 'tasks.5.next', /task "f"/, /cannot go to a task inside a foreach/);
  });

  it('runs nested foreach tasks, but not with the outer item', () => {
    const nested = (source: string) =>
      dag([
        {
          category: 'foreach',
          name: 'outer',
          iterationMapping: { collection: '$.input.rows', item: 'row' },
          inputMappings: [
            { source: '$.context.rows', target: '$.input.rows' },
            { source: '$.context.region', target: '$.input.region' },
          ],
          tasks: [
            {
              category: 'foreach',
              name: 'inner',
              iterationMapping: { collection: '$.input.cells', item: 'cell' },
              inputMappings: [
                { source: '$.context.row.cells', target: '$.input.cells' },
                { source, target: '$.input.extra' },
              ],
              tasks: [
                fn('work', {
                  inputMappings: [
                    { source: '$.context.cell', target: '$.input.cell' },
                    { source: '$.context.extra', target: '$.input.extra' },
                  ],
                }),
              ],
            },
          ],
        },
      ]);
    const translation = translate(nested('$.context.region'));
    const inner = taskOf(translation, 'inner');
    assert.ok(inner.kind === 'foreach');
    assert.deepEqual(
      inner.input.map((mapping) => mapping.source ?? mapping.value),
      [[], '$.item.cells', '$.context.region'],
    );
    assert.deepEqual(
      taskOf(translation, 'work').input.map((mapping) => mapping.source),
      ['$.item', '$.context.region'],
    );
    assertIssue(
      issuesOf(nested('$.context.row.id')),
      'tasks.0.tasks.0.tasks.0.inputMappings.1.source',
      /task "work"/,
      /item of an enclosing foreach/,
    );
  });
});

// ---------------------------------------------------------------------------
// The async kind's `request: input` mode and placeholders, in the task runner

class MemoryStore implements MetadataStore {
  readonly items = new Map<string, StoredItem<unknown>>();
  #id = (key: ItemKey) => `${key.partition}\u0000${key.sort}`;
  async create<T>(item: NewItem<T>): Promise<StoredItem<T>> {
    const now = new Date().toISOString();
    const stored = { ...item, version: 1, createdAt: now, updatedAt: now };
    this.items.set(this.#id(item.key), stored);
    return stored;
  }
  async update<T>(item: NewItem<T>, expectedVersion: number): Promise<StoredItem<T>> {
    const current = this.items.get(this.#id(item.key));
    assert.equal(current?.version, expectedVersion);
    const stored = { ...(current as StoredItem<T>), ...item, version: expectedVersion + 1 };
    this.items.set(this.#id(item.key), stored);
    return stored;
  }
  async get<T>(key: ItemKey): Promise<StoredItem<T> | undefined> {
    return this.items.get(this.#id(key)) as StoredItem<T> | undefined;
  }
  async delete(key: ItemKey): Promise<boolean> {
    return this.items.delete(this.#id(key));
  }
  async listPartition<T>(partition: string, sortPrefix: string): Promise<Page<StoredItem<T>>> {
    const items = [...this.items.values()].filter(
      (item) => item.key.partition === partition && item.key.sort.startsWith(sortPrefix),
    );
    return { items: items as StoredItem<T>[] };
  }
  async listCollection<T>(): Promise<Page<StoredItem<T>>> {
    return { items: [] };
  }
  async nextSequence(): Promise<number> {
    return 1;
  }
  async ping(): Promise<void> {}
}

describe('async tasks: request: input and placeholders (task runner)', () => {
  async function startAsync(descriptor: FlowDescriptor, input: JsonObject): Promise<HttpCallRequest[]> {
    const records = new EngineRecords(new MemoryStore());
    const calls: HttpCallRequest[] = [];
    const execution: ExecutionRecord = {
      id: 'exec-1',
      flowId: 'flow-1',
      flowVersion: 1,
      tenant: 't',
      status: 'RUNNING',
      parameters: {},
      startedAt: new Date().toISOString(),
      stateMachine: { id: 'sm' },
    };
    await records.createExecution(execution);
    const runner = new TaskRunner({
      records,
      contexts: undefined as never,
      orchestrator: undefined as never,
      http: {
        call: async (request) => {
          calls.push(request);
          return { status: 202, body: { result_type: 'SUCCESS' } };
        },
      },
      descriptorOf: async () => descriptor,
      startChild: async () => {
        throw new Error('no subflows here');
      },
    });
    await records.updateRun('exec-1', 'loop[2].work', (run) => ({ ...run, input }));
    await runner.handle({
      action: 'start-async',
      executionId: 'exec-1',
      task: 'work',
      scope: 'loop[2]',
      attempt: 0,
      token: 'tok+en/1=',
    });
    const run = await records.getRun('exec-1', 'loop[2].work');
    assert.equal(run?.status, 'WAITING');
    assert.equal(run?.token, 'tok+en/1=');
    return calls;
  }

  const inLoop = (work: Record<string, unknown>): FlowDescriptor =>
    flowDescriptorSchema.parse({
      name: 'async',
      tasks: [
        {
          name: 'loop',
          kind: 'foreach',
          items: '$.input.list',
          tasks: [{ name: 'work', kind: 'async', ...work }],
        },
      ],
    });

  it('posts the input alone and fills the placeholders in the URL and headers, URL-encoded', async () => {
    const translated = translate(
      dag([
        {
          category: 'foreach',
          name: 'loop',
          iterationMapping: { collection: '$.input.list', item: 'x' },
          tasks: [fn('work', { pattern: 'task_async', resourceName: 'http://executor.test/run?v=1' })],
        },
      ]),
      {
        callbackUrl: ({ executionId, task, token }) =>
          `https://sluice.test/flow/finish.json?executionId=${executionId}&taskName=${task}&token=${token}`,
      },
    );
    const [call] = await startAsync(translated.descriptor, { text: 'hi' });
    assert.ok(call);
    assert.equal(call.method, 'POST');
    assert.equal(call.url, 'http://executor.test/run?v=1&execution_id=exec-1&name=loop%5B2%5D.work');
    assert.deepEqual(call.headers, {
      'X-Mode': 'async',
      'X-Callback-Url':
        'https://sluice.test/flow/finish.json?executionId=exec-1&taskName=loop%5B2%5D.work&token=tok%2Ben%2F1%3D',
    });
    assert.deepEqual(call.body, { text: 'hi' });
  });

  it('still posts the envelope by default', async () => {
    const descriptor = inLoop({ url: 'http://executor.test/ask', headers: { 'X-Run': '${task}' } });
    const task = (descriptor.tasks[0] as { tasks: Array<{ request: string }> }).tasks[0];
    assert.equal(task?.request, 'envelope');
    const [call] = await startAsync(descriptor, { a: 1 });
    assert.ok(call);
    assert.equal(call.url, 'http://executor.test/ask');
    assert.deepEqual(call.headers, { 'X-Run': 'loop%5B2%5D.work' });
    assert.deepEqual(call.body, {
      token: 'tok+en/1=',
      executionId: 'exec-1',
      task: 'loop[2].work',
      input: { a: 1 },
    });
  });
});
