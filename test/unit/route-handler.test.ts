import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { notFound } from '../../lambdas/core/errors.ts';
import { maxRequestBytes } from '../../lambdas/http/request.ts';
import { ok } from '../../lambdas/http/results.ts';
import type { Dialect, RouteDefinition } from '../../lambdas/http/route.ts';
import { dialects } from '../../lambdas/http/route.ts';
import { routeHandler } from '../../lambdas/http/route-handler.ts';
import { httpEvent, lambdaContext } from '../support/events.ts';

const createRoute = (dialect: Dialect) =>
  ({
    id: 'createThing',
    method: 'POST',
    path: '/things/{thingId}',
    handler: 'things',
    dialect,
    summary: 'test route',
    request: {
      path: z.object({ thingId: z.string().regex(/^\d+$/) }),
      query: z.object({ page: z.coerce.number().int().min(1).default(1) }),
      body: z.object({ name: z.string().min(1), size: z.number().optional() }),
    },
    responses: { 201: { description: 'created' } },
  }) as const satisfies RouteDefinition;

const call = async (
  dialect: Dialect,
  event: Parameters<ReturnType<typeof routeHandler>>[0],
  fail?: unknown,
) => {
  const handler = routeHandler(createRoute(dialect), async (request) => {
    if (fail !== undefined) throw fail;
    return ok({ id: request.path.thingId, page: request.query.page, name: request.body.name }, 201);
  });
  const response = await handler(event, lambdaContext);
  return {
    status: response.statusCode,
    body: JSON.parse(response.body ?? 'null'),
    headers: response.headers,
  };
};

const post = (body: string, extra: Partial<Parameters<typeof httpEvent>[0]> = {}) =>
  httpEvent({
    method: 'POST',
    path: '/things/7',
    routeKey: 'POST /things/{thingId}',
    pathParameters: { thingId: '7' },
    query: { page: '2' },
    body,
    ...extra,
  });

describe('route handler chain', () => {
  it('parses path, query and body with the route schemas and wraps the result per dialect', async () => {
    const native = await call('native', post('{"name":"a"}'));
    assert.equal(native.status, 201);
    assert.deepEqual(native.body, { id: '7', page: 2, name: 'a' });
    assert.equal(native.headers?.['x-request-id'], 'req-1');

    const dataflow = await call('dataflow', post('{"name":"a"}'));
    assert.deepEqual(dataflow.body, { code: 201, message: 'success', data: { id: '7', page: 2, name: 'a' } });

    const enos = await call('enos', post('{"name":"a"}'));
    assert.deepEqual(enos.body, { status: 0, msg: 'Success', data: { id: '7', page: 2, name: 'a' } });
  });

  it('decodes a base64-encoded body', async () => {
    const response = await call(
      'native',
      post(Buffer.from('{"name":"b64"}').toString('base64'), { isBase64Encoded: true }),
    );
    assert.equal(response.body.name, 'b64');
  });

  for (const dialect of dialects) {
    it(`answers malformed JSON with 400 in the ${dialect} envelope, naming the problem`, async () => {
      const response = await call(dialect, post('{"name": '));
      assert.equal(response.status, 400);
      assert.match(JSON.stringify(response.body), /Malformed JSON body/);
      assert.doesNotMatch(JSON.stringify(response.body), /at .*\.ts:\d+/, 'no stack trace');
    });
  }

  it('uses each dialect’s documented error envelope', async () => {
    const bad = post('{"name": ');
    assert.deepEqual(Object.keys((await call('dataflow', bad)).body).sort(), ['code', 'data', 'message']);
    const pipeline = (await call('data-pipeline', bad)).body;
    assert.equal(pipeline.success, false);
    assert.equal(pipeline.code, 400);
    assert.equal(pipeline.error.type, 'ValidationError');
    const flowEngine = (await call('flow-engine', bad)).body;
    assert.deepEqual(Object.keys(flowEngine).sort(), ['data', 'msg', 'status']);
    assert.equal((await call('enos', bad)).body.status, 62102);
    const rill = await call('rill-flow', bad);
    assert.equal(rill.status, 400);
    assert.equal(rill.body.error_code, 30109);
    assert.equal(rill.body.request_id, 'req-1');
    const native = (await call('native', bad)).body;
    assert.equal(native.error.code, 'BAD_REQUEST');
    assert.equal(native.error.requestId, 'req-1');
  });

  it('reports every invalid field with its location', async () => {
    const response = await call(
      'native',
      post('{"size":"big"}', { pathParameters: { thingId: 'x' }, query: { page: '0' } }),
    );
    assert.equal(response.status, 400);
    assert.equal(response.body.error.code, 'VALIDATION');
    const paths = response.body.error.issues.map((issue: { path: string }) => issue.path).sort();
    assert.deepEqual(paths, ['body.name', 'body.size', 'path.thingId', 'query.page']);
  });

  it('refuses a body over the Lambda payload limit with 413', async () => {
    const huge = JSON.stringify({ name: 'x'.repeat(maxRequestBytes) });
    const response = await call('dataflow', post(huge));
    assert.equal(response.status, 413);
    assert.equal(response.body.code, 413);
  });

  it('keeps a domain error’s message and status', async () => {
    const response = await call(
      'data-pipeline',
      post('{"name":"a"}'),
      notFound('Task task_1 does not exist'),
    );
    assert.equal(response.status, 404);
    assert.equal(response.body.message, 'Task task_1 does not exist');
    assert.equal(response.body.error.type, 'NotFoundError');
  });

  it('hides an unexpected fault behind a generic 500', async () => {
    const fault = new TypeError('secret internals: cannot read x of undefined');
    for (const dialect of dialects) {
      const response = await call(dialect, post('{"name":"a"}'), fault);
      assert.equal(response.status, 500);
      const text = JSON.stringify(response.body);
      assert.doesNotMatch(text, /secret internals|TypeError|\.ts:/);
      assert.match(text, /req-1/);
    }
  });
});
