import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type LocalRuntime, startLocalRuntime } from '../../dev-server/runtime.ts';
import { ephemeralSettings } from '../../dev-server/settings.ts';
import { dependencies } from '../../lambdas/composition/dependencies.ts';

const settings = (dataDir: string | undefined) => ephemeralSettings({ dataDir });

describe('local runtime (npm start)', () => {
  let dataDir = '';
  let runtime: LocalRuntime;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'sluice-e2e-'));
    runtime = await startLocalRuntime(settings(dataDir));
  });
  after(async () => {
    await runtime.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('serves /health as ok once every stand-in answers', async () => {
    const response = await fetch(`${runtime.apiUrl}/health`);
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { status: 'ok', checks: { metadata: 'ok', blobs: 'ok' } });
    assert.ok(response.headers.get('x-request-id'));
  });

  it('serves the OpenAPI document and Swagger UI with its assets', async () => {
    const openapi = await fetch(`${runtime.apiUrl}/openapi.json`);
    assert.equal(openapi.status, 200);
    assert.equal(((await openapi.json()) as { openapi: string }).openapi, '3.1.0');

    const page = await fetch(`${runtime.apiUrl}/swagger-ui.html`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    const html = await page.text();
    for (const asset of html.matchAll(/(?:href|src)="(\/swagger-ui\/[^"]+)"/g)) {
      const response = await fetch(`${runtime.apiUrl}${asset[1]}`);
      assert.equal(response.status, 200, `${asset[1]}`);
      assert.ok((await response.arrayBuffer()).byteLength > 1000);
    }
  });

  it('answers an unknown route with a JSON 404', async () => {
    const response = await fetch(`${runtime.apiUrl}/no/such/route`, { method: 'POST', body: '{}' });
    assert.equal(response.status, 404);
    const body = (await response.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'NOT_FOUND');
    assert.match(body.error.message, /POST \/no\/such\/route/);
  });

  it('keeps stored data across a restart', async () => {
    const { store, blobs } = dependencies();
    await store.create({ key: { partition: 'e2e#1', sort: 'meta' }, data: { name: 'kept' } });
    await blobs.put('e2e/kept.txt', 'still here', 'text/plain');
    await runtime.stop();

    runtime = await startLocalRuntime(settings(dataDir));
    const restarted = dependencies();
    assert.deepEqual((await restarted.store.get({ partition: 'e2e#1', sort: 'meta' }))?.data, {
      name: 'kept',
    });
    const blob = await restarted.blobs.get('e2e/kept.txt');
    assert.equal(Buffer.from(blob?.body ?? []).toString(), 'still here');
    assert.equal((await fetch(`${runtime.apiUrl}/health`)).status, 200);
  });

  it('keeps nothing in memory mode', async () => {
    const memory = await startLocalRuntime(settings(undefined));
    try {
      await dependencies().store.create({ key: { partition: 'mem#1', sort: 'meta' }, data: { n: 1 } });
      await memory.stop();
      const again = await startLocalRuntime(settings(undefined));
      try {
        assert.equal(await dependencies().store.get({ partition: 'mem#1', sort: 'meta' }), undefined);
      } finally {
        await again.stop();
      }
    } finally {
      await memory.stop().catch(() => undefined);
    }
  });
});
