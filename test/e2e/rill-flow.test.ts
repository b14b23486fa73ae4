import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { type LocalRuntime, startLocalRuntime } from '../../dev-server/runtime.ts';
import { ephemeralSettings } from '../../dev-server/settings.ts';
import { dependencies } from '../../lambdas/composition/dependencies.ts';
import { rillSeedDescriptor } from '../support/poll.ts';

/**
 * Rill Flow (seed 003) as its clients use it, against the local runtime: the
 * seed's example descriptor (indented as in Rill Flow's own documentation;
 * the seed's text lost its indentation), submit through `/2/flow/submit.json`,
 * get.json polling, an async executor completing through finish.json, and
 * every refusal in Rill Flow's error shape.
 */

type Json = Record<string, unknown>;

let runtime: LocalRuntime;
let executor: Server;
let executorUrl = '';
const asyncCalls: Array<{ headers: IncomingHttpHeaders; body: Json }> = [];

/** The seed's example descriptor, its executors pointed at this runtime instead of 127.0.0.1:8080. */

async function call(method: string, path: string, body?: string, contentType = 'application/json') {
  const response = await fetch(`${runtime.apiUrl}${path}`, {
    method,
    headers: { 'content-type': contentType },
    ...(body === undefined ? {} : { body }),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : {}) as Json };
}

async function addDescriptor(
  yaml: string,
  query = 'business_id=demoFlowTest%20&feature_name=demoTest&alias=release',
) {
  return call('POST', `/flow/bg/manage/descriptor/add_descriptor.json?${query}`, yaml, 'text/plain');
}

async function waitForStatus(executionId: string, timeoutMs = 15_000): Promise<Json> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await call('GET', `/flow/get.json?execution_id=${encodeURIComponent(executionId)}`);
    const ret = body.ret as Json;
    if (ret.dag_status !== 'RUNNING' && ret.dag_status !== 'NOT_STARTED') return ret;
    if (Date.now() > deadline) throw new Error(`execution ${executionId} still ${ret.dag_status}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('Rill Flow dialect', () => {
  before(async () => {
    runtime = await startLocalRuntime(ephemeralSettings());
    executor = createServer((request, response) => {
      let text = '';
      request.on('data', (chunk) => {
        text += chunk;
      });
      request.on('end', () => {
        asyncCalls.push({ headers: request.headers, body: JSON.parse(text || '{}') as Json });
        response.writeHead(200, { 'content-type': 'application/json' }).end('{"accepted":true}');
      });
    });
    await new Promise<void>((resolve) => executor.listen(0, '127.0.0.1', resolve));
    executorUrl = `http://127.0.0.1:${(executor.address() as AddressInfo).port}`;
  });
  after(async () => {
    await runtime.stop();
    executor.close();
  });

  it('runs the seed example: add_descriptor, submit, get.json until SUCCEED with result_number 1024', async () => {
    const added = await addDescriptor(rillSeedDescriptor(runtime.apiUrl));
    assert.equal(added.status, 200, JSON.stringify(added.body));
    assert.equal(added.body.ret, true);
    assert.match(String(added.body.descriptor_id), /^demoFlowTest:demoTest:md5_[0-9a-f]{32}$/);

    const submitted = await call(
      'POST',
      '/2/flow/submit.json?descriptor_id=demoFlowTest:demoTest',
      '{"left": 512, "right": 512}',
    );
    assert.equal(submitted.status, 200, JSON.stringify(submitted.body));
    const executionId = String(submitted.body.execution_id);
    assert.match(executionId, /^demoFlowTest:demoTest_c_[0-9a-f-]{36}$/);

    const ret = await waitForStatus(executionId);
    assert.equal(ret.dag_status, 'SUCCEED');
    assert.equal(ret.process, 100);
    const tasks = ret.tasks as Record<string, Json>;
    assert.deepEqual(Object.keys(tasks).sort(), ['endNode', 'startNode']);
    assert.equal(tasks.startNode?.status, 'SUCCEED');
    assert.deepEqual(tasks.startNode?.next, ['endNode']);
    assert.equal(tasks.startNode?.contains_sub, false);
    assert.equal((tasks.startNode?.task as Json | undefined)?.pattern, 'task_sync');

    const context = await call(
      'GET',
      `/flow/get_context.json?execution_id=${encodeURIComponent(executionId)}`,
    );
    assert.equal((context.body.context as Json).result_number, 1024);
    const brief = await call(
      'GET',
      `/flow/get.json?execution_id=${encodeURIComponent(executionId)}&brief=true`,
    );
    assert.equal((brief.body.ret as Json).tasks, undefined);

    const stored = await call(
      'GET',
      '/flow/bg/manage/descriptor/get_descriptor.json?descriptor_id=demoFlowTest:demoTest',
    );
    assert.equal(stored.body.descriptor, rillSeedDescriptor(runtime.apiUrl));
    const ids = await call('GET', '/flow/get_execution_ids.json?service_id=demoFlowTest:demoTest');
    assert.deepEqual(ids.body.execution_ids, [executionId]);
  });

  it('hands task_async executors X-Mode and X-Callback-Url, and finishes through finish.json', async () => {
    const yaml = `version: 1
workspace: asyncDemo
dagName: approve
type: flow
tasks:
- category: function
  name: ask
  resourceName: ${executorUrl}/ask
  pattern: task_async
  inputMappings:
  - target: $.input.item
    source: $.context.item
  outputMappings:
  - target: $.context.decision
    source: $.output.decision
`;
    assert.equal((await addDescriptor(yaml, 'business_id=asyncDemo&feature_name=approve')).status, 200);
    const submitted = await call(
      'POST',
      '/flow/submit.json?descriptor_id=asyncDemo:approve',
      '{"item":"x1"}',
    );
    const executionId = String(submitted.body.execution_id);
    const deadline = Date.now() + 10_000;
    while (asyncCalls.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    const [first] = asyncCalls;
    assert.ok(first, 'the executor was called');
    assert.equal(first.headers['x-mode'], 'async');
    assert.deepEqual(first.body, { item: 'x1' });
    const callback = new URL(String(first.headers['x-callback-url']));
    assert.equal(callback.pathname, '/flow/finish.json');

    const finished = await fetch(callback, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        result_type: 'SUCCESS',
        passthrough: { execution_id: executionId, task_name: 'ask' },
        response: { decision: 'yes' },
      }),
    });
    assert.deepEqual(await finished.json(), { result: 'ok' });
    const ret = await waitForStatus(executionId);
    assert.equal(ret.dag_status, 'SUCCEED');
    const context = await call(
      'GET',
      `/flow/get_context.json?execution_id=${encodeURIComponent(executionId)}`,
    );
    assert.equal((context.body.context as Json).decision, 'yes');
    const again = await call(
      'POST',
      `/flow/finish.json?executionId=${encodeURIComponent(executionId)}&taskName=ask`,
      '{"result_type":"SUCCESS"}',
    );
    assert.equal(again.status, 400, 'a finish.json for a finished task is refused in Rill Flow’s shape');
    assert.equal(again.body.error_code, 30110);
    assert.match(String(again.body.error), /ask is SUCCEEDED/);
  });

  it('completes a waiting task through its trigger URL (GET, status and context in the query)', async () => {
    const submitted = await call(
      'POST',
      '/flow/submit.json?descriptor_id=asyncDemo:approve',
      '{"item":"x2"}',
    );
    const executionId = String(submitted.body.execution_id);
    const deadline = Date.now() + 10_000;
    while (!asyncCalls.some((entry) => entry.body.item === 'x2') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    const context = encodeURIComponent(JSON.stringify({ decision: 'via-trigger' }));
    const triggered = await call(
      'GET',
      `/flow/trigger.json?execution_id=${encodeURIComponent(executionId)}&task_name=ask&context=${context}`,
    );
    assert.deepEqual(triggered.body, { result: 'ok' });
    assert.equal((await waitForStatus(executionId)).dag_status, 'SUCCEED');
    const stored = await call(
      'GET',
      `/flow/get_context.json?execution_id=${encodeURIComponent(executionId)}`,
    );
    assert.equal((stored.body.context as Json).decision, 'via-trigger');
    const bad = await call(
      'GET',
      `/flow/trigger.json?execution_id=${encodeURIComponent(executionId)}&task_name=ask&context=%7Bnot`,
    );
    assert.equal(bad.status, 422);
    assert.match(String(bad.body.error), /context must be a JSON object/);
  });

  it('posts the execution’s end to the submit callback', async () => {
    const callbackUrl = `${executorUrl}/done`;
    const submitted = await call(
      'POST',
      `/flow/submit.json?descriptor_id=demoFlowTest:demoTest&callback=${encodeURIComponent(callbackUrl)}`,
      '{"left": 1, "right": 2}',
    );
    const executionId = String(submitted.body.execution_id);
    assert.equal((await waitForStatus(executionId)).dag_status, 'SUCCEED');
    const deadline = Date.now() + 5000;
    let notified: Json | undefined;
    while (!notified && Date.now() < deadline) {
      notified = asyncCalls.find((entry) => entry.body.execution_id === executionId)?.body;
      if (!notified) await new Promise((resolve) => setTimeout(resolve, 25));
    }
    assert.deepEqual(notified, { execution_id: executionId, dag_status: 'succeed' });
  });

  it('answers bad input the way Rill Flow does, naming the problem, and stores nothing', async () => {
    const missing = await call(
      'POST',
      '/flow/bg/manage/descriptor/add_descriptor.json?feature_name=x',
      'version: 1',
    );
    assert.equal(missing.status, 422);
    assert.equal(missing.body.error_code, 30109);
    assert.match(String(missing.body.error), /business_id/);
    assert.ok(missing.body.request_id);

    const broken = await addDescriptor('tasks: [unclosed', 'business_id=b&feature_name=f');
    assert.equal(broken.status, 400);
    assert.equal(broken.body.error_code, 30109);
    assert.match(String(broken.body.error), /line \d+, column \d+/);

    const badCategory = await addDescriptor(
      'version: 1\nworkspace: bad\ndagName: cat\ntype: flow\ntasks:\n- category: teleport\n  name: a\n',
      'business_id=bad&feature_name=cat',
    );
    assert.equal(badCategory.status, 400);
    assert.match(String(badCategory.body.error), /teleport/);

    const unknownNext = await addDescriptor(
      'version: 1\nworkspace: bad\ndagName: next\ntype: flow\ntasks:\n- category: pass\n  name: a\n  next: ghost\n',
      'business_id=bad&feature_name=next',
    );
    assert.equal(unknownNext.status, 400);
    assert.match(String(unknownNext.body.error), /ghost/);

    const cycle = await addDescriptor(
      'version: 1\nworkspace: bad\ndagName: loop\ntype: flow\ntasks:\n- category: pass\n  name: a\n  next: b\n- category: pass\n  name: b\n  next: a\n',
      'business_id=bad&feature_name=loop',
    );
    assert.equal(cycle.status, 400);
    assert.match(JSON.stringify(cycle.body), /cycle|unreachable/);
    const nothing = await call(
      'GET',
      '/flow/bg/manage/descriptor/get_descriptor.json?descriptor_id=bad:loop',
    );
    assert.equal(nothing.status, 400, 'nothing half-stored');

    const unknownDescriptor = await call('POST', '/flow/submit.json?descriptor_id=nobody:nothing', '{}');
    assert.equal(unknownDescriptor.status, 400);
    assert.match(String(unknownDescriptor.body.error), /nobody:nothing/);

    const unknownExecution = await call('GET', '/flow/get.json?execution_id=nobody:nothing_c_1');
    assert.equal(unknownExecution.status, 400);
    assert.equal(unknownExecution.body.error_code, 30109);
  });

  it('runs every choice whose condition holds in a context of its own, and merges switch branches', async () => {
    const yaml = `version: 1
workspace: choiceDemo
dagName: routing
type: flow
tasks:
- category: pass
  name: start
  next: route
- category: choice
  name: route
  next: after
  inputMappings:
  - target: $.input.status
    source: $.context.status
  outputMappings:
  - target: $.context.path
    source: $.output.path
  - target: $.context.size
    source: $.output.size
  choices:
  - condition: $.input[?(@.status == "ok")]
    tasks:
    - category: pass
      name: first
      next: second
      inputMappings:
      - target: $.input.status
        source: $.context.status
      outputMappings:
      - target: $.context.path
        source: $.input.status
    - category: pass
      name: second
      inputMappings:
      - target: $.input.path
        source: $.context.path
      outputMappings:
      - target: $.context.seenBySecond
        source: $.input.path
  - condition: $.input[?(@.status)]
    tasks:
    - category: pass
      name: measure
      inputMappings:
      - target: $.input.status
        source: $.context.status
      outputMappings:
      - target: $.context.size
        source: $.input.status
- category: switch
  name: after
  inputMappings:
  - target: $.input.status
    source: $.context.status
  switches:
  - condition: $.input[?(@.status == "ok")]
    next: good
    break: true
  - condition: default
    next: other
- category: pass
  name: good
  next: merged
- category: pass
  name: other
  next: merged
- category: pass
  name: merged
`;
    const added = await addDescriptor(yaml, 'business_id=choiceDemo&feature_name=routing');
    assert.equal(added.status, 200, JSON.stringify(added.body));
    const run = async (context: Json) => {
      const submitted = await call(
        'POST',
        '/flow/submit.json?descriptor_id=choiceDemo:routing',
        JSON.stringify(context),
      );
      const id = String(submitted.body.execution_id);
      const ret = await waitForStatus(id);
      const got = await call('GET', `/flow/get_context.json?execution_id=${encodeURIComponent(id)}`);
      return { ret, context: got.body.context as Json };
    };
    // Both choices hold: each runs in its own context (the second task sees the first's write there).
    const both = await run({ status: 'ok' });
    assert.equal(both.ret.dag_status, 'SUCCEED');
    assert.deepEqual(both.context, { status: 'ok', path: 'ok', size: 'ok' });
    const tasks = both.ret.tasks as Record<string, Json>;
    assert.equal(tasks.route?.status, 'SUCCEED');
    assert.equal(tasks.route?.contains_sub, true);
    assert.equal(tasks.merged?.status, 'SUCCEED', 'a merge after a switch runs when one branch ran');
    assert.equal(tasks.other?.status, 'SKIPPED');
    // Only the second holds: the first choice's output is absent, the rest goes on.
    const one = await run({ status: 'late' });
    assert.equal(one.ret.dag_status, 'SUCCEED');
    assert.deepEqual(one.context, { status: 'late', size: 'late' });
    assert.equal((one.ret.tasks as Record<string, Json>).merged?.status, 'SUCCEED');
    // None holds: the choice succeeds at once and its downstream runs, as in Rill Flow.
    const none = await run({});
    assert.equal(none.ret.dag_status, 'SUCCEED');
    assert.deepEqual(none.context, {});
    assert.equal((none.ret.tasks as Record<string, Json>).after?.status, 'SUCCEED');
  });

  it('gives each foreach iteration a context of its own and collects them as sub_context', async () => {
    const yaml = `version: 1
workspace: eachDemo
dagName: numbers
type: flow
tasks:
- category: foreach
  name: each
  inputMappings:
  - target: $.input.numbers
    source: $.context.numbers
  iterationMapping:
    collection: $.input.numbers
    item: n
  outputMappings:
  - target: $.context.results
    source: $.output.sub_context[*].again
  tasks:
  - category: pass
    name: first
    next: second
    inputMappings:
    - target: $.input.v
      source: $.context.n
    outputMappings:
    - target: $.context.seen
      source: $.input.v
  - category: pass
    name: second
    inputMappings:
    - target: $.input.s
      source: $.context.seen
    outputMappings:
    - target: $.context.again
      source: $.input.s
`;
    const added = await addDescriptor(yaml, 'business_id=eachDemo&feature_name=numbers');
    assert.equal(added.status, 200, JSON.stringify(added.body));
    const submitted = await call(
      'POST',
      '/flow/submit.json?descriptor_id=eachDemo:numbers',
      '{"numbers":[3,1,2]}',
    );
    const id = String(submitted.body.execution_id);
    const ret = await waitForStatus(id);
    assert.equal(ret.dag_status, 'SUCCEED');
    const context = (await call('GET', `/flow/get_context.json?execution_id=${encodeURIComponent(id)}`)).body
      .context as Json;
    // Each iteration passed its own value from first to second; none saw another's.
    assert.deepEqual(context, { numbers: [3, 1, 2], results: [3, 1, 2] });
  });

  it('redoes named tasks and everything after them, or the failed ones, keeping the other results', async () => {
    const calls: string[] = [];
    let failB = true;
    const counter = createServer((request, response) => {
      request.resume().on('end', () => {
        const task = String(request.url).slice(1);
        calls.push(task);
        if (task === 'b' && failB) {
          response.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"down"}');
          return;
        }
        response.writeHead(200, { 'content-type': 'application/json' }).end(`{"${task}":${calls.length}}`);
      });
    });
    await new Promise<void>((resolve) => counter.listen(0, '127.0.0.1', resolve));
    const origin = `http://127.0.0.1:${(counter.address() as AddressInfo).port}`;
    try {
      const task = (name: string, next?: string) =>
        `- category: function\n  name: ${name}\n  resourceName: ${origin}/${name}\n  pattern: task_sync\n` +
        (next ? `  next: ${next}\n` : '') +
        `  outputMappings:\n  - target: $.context.${name}\n    source: $.output.${name}\n`;
      const yaml = `version: 1\nworkspace: redoDemo\ndagName: chain\ntype: flow\ntasks:\n${task('a', 'b')}${task('b', 'c')}${task('c')}`;
      assert.equal((await addDescriptor(yaml, 'business_id=redoDemo&feature_name=chain')).status, 200);
      const submitted = await call('POST', '/flow/submit.json?descriptor_id=redoDemo:chain', '{}');
      const executionId = String(submitted.body.execution_id);
      const quoted = encodeURIComponent(executionId);
      assert.equal((await waitForStatus(executionId)).dag_status, 'FAILED');
      assert.deepEqual(calls, ['a', 'b']);

      // No task names: the task that failed (b) and what follows it (c) run again; a keeps its result.
      failB = false;
      const redone = await call('POST', `/flow/redo.json?execution_id=${quoted}`, '{"retried":true}');
      assert.deepEqual(redone.body, { result: 'ok' });
      const ret = await waitForStatus(executionId);
      assert.equal(ret.dag_status, 'SUCCEED');
      assert.deepEqual(calls, ['a', 'b', 'b', 'c']);
      const context = (await call('GET', `/flow/get_context.json?execution_id=${quoted}`)).body
        .context as Json;
      assert.deepEqual(context, { retried: true, a: 1, b: 3, c: 4 });

      // Named: b and everything downstream of it, on a SUCCEED execution.
      const named = await call('POST', `/flow/redo.json?execution_id=${quoted}&task_names=b`);
      assert.deepEqual(named.body, { result: 'ok' });
      assert.equal((await waitForStatus(executionId)).dag_status, 'SUCCEED');
      assert.deepEqual(calls, ['a', 'b', 'b', 'c', 'b', 'c']);
      assert.deepEqual(
        await call('GET', '/flow/get_execution_ids.json?service_id=redoDemo:chain').then(
          (r) => r.body.execution_ids,
        ),
        [executionId],
      );

      const unknownTask = await call('POST', `/flow/redo.json?execution_id=${quoted}&task_names=zzz`);
      assert.equal(unknownTask.status, 400);
      assert.match(String(unknownTask.body.error), /no task zzz/);
      const unknownExecution = await call('POST', '/flow/redo.json?execution_id=redoDemo:chain_c_nope');
      assert.equal(unknownExecution.status, 400);
      assert.equal(unknownExecution.body.error_code, 30109);
      // The refused redo left the execution as it was.
      assert.equal((await waitForStatus(executionId)).dag_status, 'SUCCEED');
    } finally {
      counter.close();
    }
  });

  it('reports NOT_STARTED for an execution whose id is known before its run starts', async () => {
    // A submit records Rill's id a moment before the engine's execution exists; get.json may come between.
    const rillId = 'demoFlowTest:demoTest_c_00000000-0000-4000-8000-000000000000';
    await dependencies().store.create({
      key: { partition: `rill#execution#${rillId}`, sort: 'link' },
      data: { rillId, engineId: 'not-started-yet', descriptorId: 'demoFlowTest:demoTest' },
    });
    const got = await call('GET', `/flow/get.json?execution_id=${encodeURIComponent(rillId)}`);
    assert.equal(got.status, 200, JSON.stringify(got.body));
    const ret = got.body.ret as Json;
    assert.equal(ret.dag_status, 'NOT_STARTED');
    assert.equal(ret.process, 0);
    assert.equal(((ret.tasks as Record<string, Json>).startNode as Json).status, 'NOT_STARTED');
  });

  it('serves Swagger UI at /swagger-ui.html, as the seed promises', async () => {
    const page = await fetch(`${runtime.apiUrl}/swagger-ui.html`);
    assert.equal(page.status, 200);
    const openapi = JSON.parse(await (await fetch(`${runtime.apiUrl}/openapi.json`)).text()) as {
      paths: Record<string, unknown>;
    };
    for (const path of ['/flow/submit.json', '/2/flow/submit.json', '/flow/get.json', '/flow/finish.json']) {
      assert.ok(openapi.paths[path], path);
    }
    assert.ok(
      (await readFile(new URL('../../README.md', import.meta.url), 'utf8')).includes('/flow/finish.json'),
    );
  });
});
