import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JSONPath } from 'jsonpath-plus';
import { isDomainError, type ValidationIssue } from '../../lambdas/core/errors.ts';
import {
  buildGraph,
  criticalPath,
  findCycles,
  layeredMakespan,
  rootsOf,
  topologicalLevels,
  topologicalOrder,
} from '../../lambdas/core/flow/graph.ts';
import { type FlowDescriptor, flowDescriptorSchema } from '../../lambdas/core/flow/model.ts';
import { checkFilterExpression, parseJsonPath, validateFlow } from '../../lambdas/core/flow/validate.ts';

type TaskInput = Record<string, unknown> & { name: string };

const pass = (name: string, dependsOn: string[] = [], extra: Record<string, unknown> = {}): TaskInput => ({
  name,
  kind: 'pass',
  dependsOn,
  ...extra,
});

/** A bare graph node. */
const node = (name: string, dependsOn: string[] = []) => ({ name, dependsOn });

const flow = (tasks: TaskInput[]): FlowDescriptor => flowDescriptorSchema.parse({ name: 'demo', tasks });

/** The issues of the validation error `validateFlow` must throw. */
function issuesOf(tasks: TaskInput[]): ValidationIssue[] {
  try {
    validateFlow(flow(tasks));
  } catch (error) {
    assert.ok(isDomainError(error), 'a DomainError');
    assert.equal(error.kind, 'validation');
    return [...error.issues];
  }
  assert.fail('expected a validation error');
}

describe('validateFlow: valid flows', () => {
  it('accepts chains, fan-outs, non-series-parallel DAGs, foreach, choice, wait and mappings', () => {
    validateFlow(
      flow([
        pass('a'),
        pass('b'),
        pass('c', ['a']),
        pass('d', ['a', 'b']), // a→c, a→d, b→d: no series-parallel form
        {
          name: 'route',
          kind: 'choice',
          dependsOn: ['d'],
          branches: [{ condition: '$.input[?(@.score > 60)]', next: ['high'] }],
          otherwise: ['low'],
        },
        pass('high', ['route']),
        pass('low', ['route']),
        { name: 'pause', kind: 'wait', dependsOn: ['c'], seconds: 5 },
        { name: 'until', kind: 'wait', until: '2030-01-01T00:00:00Z' },
        { name: 'suspend', kind: 'wait', wakeUp: true },
        {
          name: 'fan',
          kind: 'foreach',
          dependsOn: ['high', 'low'],
          items: '$.input.files',
          // inner names are scoped: "a" may be reused inside
          tasks: [
            pass('a', [], { input: [{ source: '$.item.key', target: '$.input.key' }] }),
            pass('b', ['a'], { output: [{ source: '$.output.rows', target: '$.context.rows' }] }),
          ],
        },
        {
          name: 'endNode',
          kind: 'http',
          url: 'http://127.0.0.1:8080/flow/sample/end_node.json',
          dependsOn: ['fan', 'pause'],
          input: [
            { source: '$.context.result_number', target: '$.input.result_number' },
            { source: "$.context['odd key'][0]", target: '$.input.list[2]' },
            { value: 3, target: '$.input.constant' },
          ],
          output: [{ source: '$.output.result_number', target: '$.context.result_number' }],
          successCondition: "$.output[?(@.status == 'ok' && @.count >= 1)]",
          failCondition: '$.output.items[?(@.error)]',
        },
        { name: 'stop', kind: 'return', dependsOn: ['endNode'], condition: '$.input[?(@.done === true)]' },
      ]),
    );
  });
});

describe('validateFlow: names and edges', () => {
  it('reports duplicate task names at the second occurrence', () => {
    assert.deepEqual(issuesOf([pass('a'), pass('b', ['a']), pass('a')]), [
      { path: 'tasks.2.name', message: 'duplicate task name "a": tasks.0 already uses it' },
    ]);
  });

  it('reports unknown upstreams with a suggestion when one is close', () => {
    assert.deepEqual(issuesOf([pass('load'), pass('clean', ['lod', 'nothing-like-it'])]), [
      { path: 'tasks.1.dependsOn.0', message: 'unknown task "lod"; did you mean "load"?' },
      { path: 'tasks.1.dependsOn.1', message: 'unknown task "nothing-like-it"' },
    ]);
  });

  it('reports an upstream listed twice', () => {
    assert.deepEqual(issuesOf([pass('a'), pass('b', ['a', 'a'])]), [
      { path: 'tasks.1.dependsOn.1', message: '"a" is listed twice in dependsOn' },
    ]);
  });

  it('reports unknown choice targets and targets that are not direct downstreams', () => {
    const issues = issuesOf([
      pass('start'),
      {
        name: 'route',
        kind: 'choice',
        dependsOn: ['start'],
        branches: [
          { condition: '$.input[?(@.x > 1)]', next: ['yes', 'ghost'] },
          { condition: '$.input[?(@.x < 0)]', next: ['start'] },
        ],
        otherwise: ['elsewhere'],
      },
      pass('yes', ['route']),
      pass('elsewhere', ['start']),
    ]);
    assert.deepEqual(issues, [
      { path: 'tasks.1.branches.0.next.1', message: 'unknown task "ghost"' },
      {
        path: 'tasks.1.branches.1.next.0',
        message: 'choice target "start" must be a direct downstream of "route": add "route" to its dependsOn',
      },
      {
        path: 'tasks.1.otherwise.0',
        message:
          'choice target "elsewhere" must be a direct downstream of "route": add "route" to its dependsOn',
      },
    ]);
  });
});

describe('validateFlow: cycles and reachability', () => {
  it('names the tasks of a cycle in flow order, at the edge that closes it', () => {
    assert.deepEqual(issuesOf([pass('root'), pass('a', ['root', 'c']), pass('b', ['a']), pass('c', ['b'])]), [
      { path: 'tasks.1.dependsOn.1', message: 'cycle: a → b → c → a' },
    ]);
  });

  it('reports a self-dependency as a cycle', () => {
    assert.deepEqual(issuesOf([pass('a'), pass('b', ['a', 'b'])]), [
      { path: 'tasks.1.dependsOn.1', message: 'cycle: b → b' },
    ]);
  });

  it('reports each cycle once and the tasks that can never start behind them', () => {
    const issues = issuesOf([
      pass('x', ['y']),
      pass('y', ['x']),
      pass('p', ['q']),
      pass('q', ['p', 'r']),
      pass('r'),
      pass('behind', ['y']),
      pass('fine', ['r']),
    ]);
    assert.deepEqual(issues, [
      { path: 'tasks.0.dependsOn.0', message: 'cycle: x → y → x' },
      { path: 'tasks.2.dependsOn.0', message: 'cycle: p → q → p' },
      {
        path: 'tasks.5',
        message:
          'task "behind" can never start: it is not reachable from any task without upstreams (it waits on a cycle)',
      },
    ]);
  });

  it('does not call a task unreachable when only its unknown upstream is wrong', () => {
    assert.deepEqual(issuesOf([pass('a'), pass('b', ['nope']), pass('c', ['b'])]), [
      { path: 'tasks.1.dependsOn.0', message: 'unknown task "nope"' },
    ]);
  });
});

describe('validateFlow: JSONPaths', () => {
  it('checks mapping syntax and where sources and targets may point', () => {
    const issues = issuesOf([
      pass('a', [], {
        input: [
          { source: '$.context.', target: '$.input.x' },
          { source: '$.output.y', target: '$.input.y' },
          { source: '$.context.z', target: '$.context.z' },
          { source: '$.context.w', target: '$.input.list[*]' },
          { source: '$.item.v', target: '$.input.v' },
          { source: '$.context[(@.length-1)]', target: '$.input.last' },
          { source: '$.context.bad key', target: '$.input.k' },
        ],
        output: [
          { source: '$.input.u', target: '$.input.u' },
          { source: '$.output.rows[?(@.ok)]', target: '$.context..rows' },
          { source: '$.output.a[0', target: '$.context.x' },
        ],
      }),
    ]);
    assert.deepEqual(issues, [
      {
        path: 'tasks.0.input.0.source',
        message: 'invalid JSONPath "$.context.": ends with "."; a name must follow',
      },
      {
        path: 'tasks.0.input.1.source',
        message: 'the source of input mappings must start with $.context or $.input: "$.output.y"',
      },
      {
        path: 'tasks.0.input.2.target',
        message: 'the target of input mappings must start with $.input: "$.context.z"',
      },
      {
        path: 'tasks.0.input.3.target',
        message:
          'a mapping target must be a plain path of names and indices (no wildcards, filters, slices or ".."): "$.input.list[*]"',
      },
      { path: 'tasks.0.input.4.source', message: '$.item is only available inside a foreach' },
      {
        path: 'tasks.0.input.5.source',
        message:
          'invalid JSONPath "$.context[(@.length-1)]": script expressions like [(...)] are not supported; use an index or a filter [?(...)]',
      },
      {
        path: 'tasks.0.input.6.source',
        message: 'invalid JSONPath "$.context.bad key": unexpected " " at character 14',
      },
      {
        path: 'tasks.0.output.0.target',
        message: 'the target of output mappings must start with $.context: "$.input.u"',
      },
      {
        path: 'tasks.0.output.1.target',
        message:
          'a mapping target must be a plain path of names and indices (no wildcards, filters, slices or ".."): "$.context..rows"',
      },
      {
        path: 'tasks.0.output.2.source',
        message: 'invalid JSONPath "$.output.a[0": unclosed "[" at character 11',
      },
    ]);
  });

  it('checks conditions: a filter that parses under eval "safe", over the right document', () => {
    const issues = issuesOf([
      pass('a', [], {
        successCondition: '$.output[?(@.score >)]',
        failCondition: '$.output.flag',
      }),
      {
        name: 'route',
        kind: 'choice',
        dependsOn: ['a'],
        branches: [
          { condition: '$.input[?(score > 60)]', next: ['b'] },
          { condition: '$.input[?(@.x = 1)]', next: ['b'] },
          { condition: '$.output[?(@.x == 1)]', next: ['b'] },
          { condition: '$.input[?(@.constructor)]', next: ['b'] },
          { condition: '$.input[?(@.a @.b)]', next: ['b'] },
          { condition: "$.input[?(@.name == 'x)]", next: ['b'] },
        ],
      },
      pass('b', ['route']),
      { name: 'stop', kind: 'return', dependsOn: ['b'], condition: '$.input[?(@.done)' },
    ]);
    assert.deepEqual(issues, [
      {
        path: 'tasks.0.successCondition',
        message: 'invalid JSONPath "$.output[?(@.score >)]": filter "@.score >": Expected expression after >',
      },
      {
        path: 'tasks.0.failCondition',
        message:
          'a condition must be a JSONPath filter such as $.input[?(@.score > 60)]: "$.output.flag" has no [?(...)]',
      },
      {
        path: 'tasks.1.branches.0.condition',
        message:
          'invalid JSONPath "$.input[?(score > 60)]": filter "score > 60": unknown name "score"; refer to the current value as @, e.g. @.score',
      },
      {
        path: 'tasks.1.branches.1.condition',
        message:
          'invalid JSONPath "$.input[?(@.x = 1)]": filter "@.x = 1": "=" assigns a value; compare with "==" or "==="',
      },
      {
        path: 'tasks.1.branches.2.condition',
        message: 'a condition must start with $.input: "$.output[?(@.x == 1)]"',
      },
      {
        path: 'tasks.1.branches.3.condition',
        message:
          'invalid JSONPath "$.input[?(@.constructor)]": filter "@.constructor": property "constructor" is not allowed',
      },
      {
        path: 'tasks.1.branches.4.condition',
        message:
          'invalid JSONPath "$.input[?(@.a @.b)]": filter "@.a @.b": two expressions side by side (is an operator missing?)',
      },
      {
        path: 'tasks.1.branches.5.condition',
        message: `invalid JSONPath "$.input[?(@.name == 'x)]": unclosed "(" in the filter starting at character 9`,
      },
      {
        path: 'tasks.3.condition',
        message: 'invalid JSONPath "$.input[?(@.done)": expected "]" after the filter at character 18',
      },
    ]);
  });

  it('checks the items of a foreach', () => {
    assert.deepEqual(
      issuesOf([{ name: 'fan', kind: 'foreach', items: '$.context.list', tasks: [pass('x')] }]),
      [
        {
          path: 'tasks.0.items',
          message: 'the items of a foreach must start with $.input: "$.context.list"',
        },
      ],
    );
  });

  it('agrees with jsonpath-plus (eval "safe") on which filters evaluate', () => {
    const documents = {
      input: {
        list: [
          { score: 70, name: 'a', tags: ['x'] },
          { score: 10, name: 'b', tags: [] },
        ],
      },
    };
    const accepted = [
      '@.score > 60',
      "@.name === 'a' || @.score < 0",
      "@.tags.includes('x')",
      '!@.missing',
      '@property == 0',
      '@.score > 60 ? true : false',
      '@root.input.list.length > 1',
      '[1, 2].includes(@.score)',
      "@.name.startsWith('a')",
      '@.name.match(/^a/)',
    ];
    const rejected = ['@.score >', 'score > 1', '@.x = 1', '@.constructor', 'this.x', '(x) => x'];
    for (const expression of accepted) {
      assert.equal(checkFilterExpression(expression), undefined, expression);
      assert.doesNotThrow(
        () => JSONPath({ path: `$.input.list[?(${expression})]`, json: documents, eval: 'safe' }),
        expression,
      );
    }
    for (const expression of rejected) {
      assert.notEqual(checkFilterExpression(expression), undefined, expression);
      assert.throws(
        () => JSONPath({ path: `$.input.list[?(${expression})]`, json: documents, eval: 'safe' }),
        expression,
      );
    }
    // Stricter on purpose: jsonpath-plus evaluates "a b" to b, which is almost surely a typo.
    assert.match(checkFilterExpression('@.a @.b') ?? '', /operator missing/);
  });

  it('parses the JSONPath forms jsonpath-plus evaluates', () => {
    const parse = (text: string) => {
      const parsed = parseJsonPath(text);
      return parsed.ok ? parsed.segments.map((segment) => segment.kind).join(' ') : `error: ${parsed.reason}`;
    };
    assert.equal(parse('$'), '');
    assert.equal(parse('$.a.b-c[0]'), 'name name index');
    assert.equal(parse('$[\'a b\']["c"]'), 'name name');
    assert.equal(parse("$['a','b']"), 'union');
    assert.equal(parse('$.a[*].b[-1]'), 'name wildcard name index');
    assert.equal(parse('$..a.*'), 'descendants name wildcard');
    assert.equal(parse('$.a[1:3]'), 'name slice');
    assert.equal(parse('$.a[0,2]'), 'name union');
    assert.equal(parse('$.input.[?(@.x > 1)]'), 'name descendants filter');
    assert.equal(parse('$.a[?(@.b[0] == ")]")]'), 'name filter');
    assert.equal(parse('$.a['), 'error: unclosed "[" at character 4');
    assert.equal(parse('$.a[]'), 'error: empty "[]" at character 4');
    assert.equal(
      parse('$.a[b]'),
      'error: "[b]" is not an index, a quoted name, "*", a slice or a filter [?(...)]',
    );
    assert.equal(parse('$$.Task'), 'error: "$$" (the Step Functions context) is not available here');
    assert.equal(parse('$a'), 'error: unexpected "a" at character 2');
  });
});

describe('validateFlow: wait tasks', () => {
  it('needs exactly one of seconds, until or wakeUp', () => {
    assert.deepEqual(
      issuesOf([
        { name: 'none', kind: 'wait' },
        { name: 'two', kind: 'wait', seconds: 3, until: '2030-01-01T00:00:00Z' },
        { name: 'three', kind: 'wait', seconds: 3, until: '2030-01-01T00:00:00Z', wakeUp: true },
      ]),
      [
        { path: 'tasks.0', message: 'a wait task needs one of seconds, until or wakeUp' },
        {
          path: 'tasks.1.until',
          message: 'a wait task takes only one of seconds, until or wakeUp; it has seconds and until',
        },
        {
          path: 'tasks.2.until',
          message:
            'a wait task takes only one of seconds, until or wakeUp; it has seconds and until and wakeUp',
        },
      ],
    );
  });
});

describe('validateFlow: foreach sub-graphs', () => {
  it('validates them recursively with their own name scope and nested paths', () => {
    const issues = issuesOf([
      pass('outer'),
      {
        name: 'fan',
        kind: 'foreach',
        dependsOn: ['outer'],
        items: '$.input.list',
        tasks: [
          pass('x', ['outer']),
          pass('y', ['z']),
          pass('z', ['y']),
          pass('x'),
          {
            name: 'inner',
            kind: 'foreach',
            items: '$.input.item.children',
            tasks: [
              pass('leaf', [], { input: [{ source: '$.index', target: '$.input.i' }] }),
              pass('leaf2', ['leef']),
            ],
          },
        ],
      },
    ]);
    assert.deepEqual(issues, [
      { path: 'tasks.1.tasks.3.name', message: 'duplicate task name "x": tasks.1.tasks.0 already uses it' },
      {
        path: 'tasks.1.tasks.0.dependsOn.0',
        message:
          'unknown task "outer": tasks inside foreach "fan" can only refer to tasks of the same foreach',
      },
      { path: 'tasks.1.tasks.4.tasks.1.dependsOn.0', message: 'unknown task "leef"; did you mean "leaf"?' },
      { path: 'tasks.1.tasks.1.dependsOn.0', message: 'cycle: y → z → y' },
    ]);
  });

  it('lists every problem of a flow at once, with a summary naming the first', () => {
    try {
      validateFlow(flow([pass('a', ['a']), pass('a'), { name: 'w', kind: 'wait' }]));
      assert.fail('expected a validation error');
    } catch (error) {
      assert.ok(isDomainError(error));
      assert.equal(
        error.message,
        'flow "demo" is invalid: tasks.1.name: duplicate task name "a": tasks.0 already uses it (and 2 more problems)',
      );
      assert.deepEqual(
        error.issues.map((issue) => issue.path),
        ['tasks.1.name', 'tasks.2', 'tasks.0.dependsOn.0'],
      );
    }
  });
});

describe('graph helpers', () => {
  // a→c, a→d, b→d, c→e, d→e: a DAG with a cross edge.
  const graph = buildGraph([
    node('e', ['c', 'd']),
    node('a'),
    node('b'),
    node('c', ['a']),
    node('d', ['a', 'b']),
  ]);
  const durations: Record<string, number> = { a: 1, b: 5, c: 10, d: 1, e: 1 };
  const duration = (name: string) => durations[name] as number;

  it('orders tasks after all their upstreams and groups them in levels', () => {
    assert.deepEqual(rootsOf(graph), ['a', 'b']);
    assert.deepEqual(topologicalOrder(graph), ['a', 'b', 'c', 'd', 'e']);
    assert.deepEqual(topologicalLevels(graph), [['a', 'b'], ['c', 'd'], ['e']]);
    assert.deepEqual(graph.downstream.get('a'), ['c', 'd']);
    assert.deepEqual(graph.upstream.get('e'), ['c', 'd']);
  });

  it('computes the critical path and what level barriers cost', () => {
    assert.deepEqual(criticalPath(graph, duration), { length: 12, path: ['a', 'c', 'e'] });
    // Levels: max(a,b)=5, max(c,d)=10, e=1.
    assert.equal(layeredMakespan(graph, duration), 16);
  });

  it('finds cycles and refuses to order them', () => {
    const cyclic = buildGraph([node('a', ['c']), node('b', ['a']), node('c', ['b']), node('d', ['d'])]);
    assert.deepEqual(
      findCycles(cyclic).map((cycle) => cycle.tasks),
      [['a', 'b', 'c'], ['d']],
    );
    assert.throws(() => topologicalOrder(cyclic), /cycle/);
  });

  it('handles long chains without deep recursion', () => {
    const chain = Array.from({ length: 20_000 }, (_, i) => node(`t${i}`, i ? [`t${i - 1}`] : []));
    const big = buildGraph(chain);
    assert.equal(topologicalOrder(big).length, 20_000);
    assert.deepEqual(findCycles(big), []);
    assert.equal(criticalPath(big, () => 1).length, 20_000);
  });
});
