import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import { createLocalApiGateway } from '../../dev-server/api-gateway.ts';
import type { RouteDefinition } from '../../lambdas/http/route.ts';
import type { HttpEvent, HttpHandler } from '../../lambdas/http/route-handler.ts';

const route = (
  over: Partial<RouteDefinition> & Pick<RouteDefinition, 'id' | 'method' | 'path'>,
): RouteDefinition => ({
  handler: 'echo',
  dialect: 'native',
  summary: over.id,
  responses: { 200: { description: 'ok' } },
  ...over,
});

const routes: RouteDefinition[] = [
  route({ id: 'literal', method: 'GET', path: '/items/special', handler: 'special' }),
  route({
    id: 'item',
    method: 'GET',
    path: '/items/{itemId}',
    request: { path: z.object({ itemId: z.string() }) },
  }),
  route({ id: 'upload', method: 'POST', path: '/upload', aliases: ['/2/upload'], dialect: 'enos' }),
  route({ id: 'greedy', method: 'GET', path: '/files/{key+}' }),
];
const fallback = route({ id: 'notFound', method: 'GET', path: '$default', handler: 'not-found' });

const seen: Array<{ module: string; event: HttpEvent }> = [];
const echo =
  (module: string): HttpHandler =>
  async (event) => {
    seen.push({ module, event });
    return {
      statusCode: 200,
      headers: { 'content-type': 'application/octet-stream' },
      cookies: ['a=1', 'b=2'],
      body: Buffer.from([0, 255, 1]).toString('base64'),
      isBase64Encoded: true,
    };
  };

let base = '';
const server = createLocalApiGateway({ routes, fallback, loadHandler: async (module) => echo(module) });

describe('local API Gateway', () => {
  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const lastEvent = () => {
    const last = seen.at(-1);
    assert.ok(last);
    return last;
  };

  it('builds a payload 2.0 event with decoded path and query parameters', async () => {
    const response = await fetch(`${base}/items/a%20b?x=1&x=2&name=%E6%95%B0%E6%8D%AE&plus=a+b`, {
      headers: { 'X-Custom': 'v', cookie: 'c1=1; c2=2' },
    });
    assert.equal(response.status, 200);
    const { module, event } = lastEvent();
    assert.equal(module, 'echo');
    assert.equal(event.version, '2.0');
    assert.equal(event.routeKey, 'GET /items/{itemId}');
    assert.equal(event.rawPath, '/items/a%20b');
    assert.equal(event.rawQueryString, 'x=1&x=2&name=%E6%95%B0%E6%8D%AE&plus=a+b');
    assert.deepEqual(event.pathParameters, { itemId: 'a b' });
    assert.deepEqual(event.queryStringParameters, { x: '1,2', name: '数据', plus: 'a b' });
    assert.equal(event.headers['x-custom'], 'v');
    assert.deepEqual(event.cookies, ['c1=1', 'c2=2']);
    assert.equal(event.requestContext.http.method, 'GET');
    assert.equal(event.requestContext.stage, '$default');
  });

  it('prefers literal paths over parameters and supports greedy and alias paths', async () => {
    await fetch(`${base}/items/special`);
    assert.equal(lastEvent().module, 'special');
    await fetch(`${base}/files/a/b/c.txt`);
    assert.deepEqual(lastEvent().event.pathParameters, { key: 'a/b/c.txt' });
    await fetch(`${base}/2/upload`, { method: 'POST', body: 'x', headers: { 'content-type': 'text/plain' } });
    assert.equal(lastEvent().event.routeKey, 'POST /2/upload');
    assert.equal(lastEvent().event.body, 'x');
  });

  it('base64-encodes binary request bodies and decodes binary responses, keeping cookies', async () => {
    const response = await fetch(`${base}/upload`, {
      method: 'POST',
      body: new Uint8Array([1, 2, 3]),
      headers: { 'content-type': 'application/octet-stream' },
    });
    const { event } = lastEvent();
    assert.equal(event.isBase64Encoded, true);
    assert.equal(event.body, Buffer.from([1, 2, 3]).toString('base64'));
    assert.deepEqual([...new Uint8Array(await response.arrayBuffer())], [0, 255, 1]);
    assert.deepEqual(response.headers.getSetCookie(), ['a=1', 'b=2']);
  });

  it('routes unmatched requests (wrong path or method) to the $default route', async () => {
    await fetch(`${base}/nowhere`);
    assert.equal(lastEvent().module, 'not-found');
    assert.equal(lastEvent().event.routeKey, '$default');
    await fetch(`${base}/items/special`, { method: 'DELETE' });
    assert.equal(lastEvent().module, 'not-found');
  });

  it('refuses a body over the Lambda payload limit with 413 in the route’s dialect', async () => {
    const count = seen.length;
    const response = await fetch(`${base}/upload`, {
      method: 'POST',
      body: new Uint8Array(6 * 1024 * 1024 + 1),
      headers: { 'content-type': 'application/octet-stream' },
    });
    assert.equal(response.status, 413);
    const body = (await response.json()) as { status: number; msg: string };
    assert.equal(body.status, 62102);
    assert.match(body.msg, /exceeds/);
    assert.equal(seen.length, count, 'the handler never ran');
  });
});
