import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkHealth } from '../../lambdas/core/health.ts';
import type { BlobStore } from '../../lambdas/ports/blob-store.ts';
import type { MetadataStore } from '../../lambdas/ports/metadata-store.ts';

const store = (ping: () => Promise<void>) => ({ ping }) as unknown as MetadataStore;
const blobs = (ping: () => Promise<void>) => ({ ping }) as unknown as BlobStore;
const fine = async () => undefined;

describe('health check', () => {
  it('is ok only when every store answers', async () => {
    assert.deepEqual(await checkHealth({ store: store(fine), blobs: blobs(fine) }), {
      status: 'ok',
      checks: { metadata: 'ok', blobs: 'ok' },
    });
    const failing = await checkHealth({
      store: store(fine),
      blobs: blobs(async () => {
        throw new Error('connection refused');
      }),
    });
    assert.deepEqual(failing, { status: 'unavailable', checks: { metadata: 'ok', blobs: 'unavailable' } });
  });

  it('treats a store that does not answer in time as unavailable', async () => {
    const hanging = () => new Promise<void>(() => undefined);
    const report = await checkHealth({ store: store(hanging), blobs: blobs(fine) }, 50);
    assert.equal(report.status, 'unavailable');
    assert.equal(report.checks.metadata, 'unavailable');
  });
});
