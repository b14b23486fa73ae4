/**
 * Contract of the BlobStore port, run against the S3 adapter on s3rver (the
 * local S3 stand-in), through the real SDK and presigned URLs used with
 * plain fetch().
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  freePort,
  type StandInClients,
  type StandIns,
  standInClients,
  startStandIns,
} from '../../dev-server/stand-ins.ts';
import { S3BlobStore } from '../../lambdas/adapters/aws/s3-blob-store.ts';
import { type DomainErrorKind, isDomainError } from '../../lambdas/core/errors.ts';
import type { BlobStore, BlobSummary } from '../../lambdas/ports/blob-store.ts';

const TABLE = 'sluice-blob-contract';
const BUCKET = 'sluice-blob-contract';

interface Harness {
  store: S3BlobStore;
  clients: StandInClients;
  standIns: StandIns;
}

async function startHarness(dataDir: string | undefined): Promise<Harness> {
  const standIns = await startStandIns({
    dataDir,
    dynamodb: 'dynalite',
    tableName: TABLE,
    bucketName: BUCKET,
  });
  const clients = standInClients(standIns);
  return { store: new S3BlobStore(clients.s3, BUCKET), clients, standIns };
}

async function stopHarness(harness: Harness | undefined): Promise<void> {
  if (!harness) return;
  harness.clients.destroy();
  await harness.standIns.stop();
}

function isKind(kind: DomainErrorKind) {
  return (error: unknown) => {
    assert.ok(isDomainError(error), `expected a DomainError, got ${String(error)}`);
    assert.equal(error.kind, kind);
    return true;
  };
}

const md5 = (bytes: Uint8Array) => createHash('md5').update(bytes).digest('hex');

async function listAll(store: BlobStore, prefix: string, limit: number, expectedPageSizes: number[]) {
  const all: BlobSummary[] = [];
  const sizes: number[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.list(prefix, { limit, ...(cursor ? { cursor } : {}) });
    sizes.push(page.items.length);
    all.push(...page.items);
    cursor = page.cursor;
    assert.ok(sizes.length <= expectedPageSizes.length, `more pages than expected: ${sizes.join(',')}`);
  } while (cursor !== undefined);
  assert.deepEqual(sizes, expectedPageSizes);
  return all;
}

describe('BlobStore contract on s3rver', () => {
  let harness: Harness;
  let store: S3BlobStore;
  const fresh = (label: string) => `${label}/${randomUUID()}`;

  before(async () => {
    harness = await startHarness(undefined);
    store = harness.store;
  });
  after(() => stopHarness(harness));

  test('exposes its bucket name', () => {
    assert.equal(store.bucket, BUCKET);
  });

  test('binary round trip keeps every byte, the content type and an unquoted etag', async () => {
    const key = `${fresh('bin')}/blob.bin`;
    const body = new Uint8Array([...Array.from({ length: 256 }, (_, index) => index), ...randomBytes(4096)]);
    const before = Date.now();
    const { etag } = await store.put(key, body, 'application/x-sluice-test');
    assert.match(etag, /^[0-9a-f]{32}$/);
    assert.equal(etag, md5(body));

    const read = await store.get(key);
    assert.ok(read);
    assert.ok(read.body instanceof Uint8Array);
    assert.deepEqual(Buffer.from(read.body), Buffer.from(body));
    assert.equal(read.key, key);
    assert.equal(read.contentType, 'application/x-sluice-test');
    assert.equal(read.etag, etag);
    assert.equal(read.size, body.byteLength);
    // S3 keeps whole seconds.
    assert.ok(Date.parse(read.lastModified) >= Math.floor(before / 1000) * 1000, read.lastModified);
  });

  test('text round trip, with the default and an explicit content type', async () => {
    const text = 'Grüße, 世界 — {"a":1}\n';
    const plain = `${fresh('text')}/note.txt`;
    await store.put(plain, text);
    const readPlain = await store.get(plain);
    assert.equal(new TextDecoder().decode(readPlain?.body), text);
    assert.equal(readPlain?.contentType, 'text/plain; charset=utf-8');
    assert.equal(readPlain?.size, Buffer.byteLength(text));

    const json = `${fresh('text')}/doc.json`;
    await store.put(json, JSON.stringify({ ok: true }), 'application/json');
    const readJson = await store.get(json);
    assert.equal(readJson?.contentType, 'application/json');
    assert.deepEqual(JSON.parse(new TextDecoder().decode(readJson?.body)), { ok: true });
  });

  test('keys with spaces and non-ASCII characters round-trip', async () => {
    const key = `${fresh('odd')}/with space & plus+/ü €.txt`;
    await store.put(key, 'odd');
    assert.equal(new TextDecoder().decode((await store.get(key))?.body), 'odd');
    const listed = await store.list(key.slice(0, key.lastIndexOf('/') + 1));
    assert.deepEqual(
      listed.items.map((item) => item.key),
      [key],
    );
  });

  test('a put overwrites and an empty body is allowed', async () => {
    const key = `${fresh('over')}/x`;
    await store.put(key, 'first');
    const { etag } = await store.put(key, new Uint8Array(0));
    const read = await store.get(key);
    assert.equal(read?.size, 0);
    assert.equal(read?.body.byteLength, 0);
    assert.equal(read?.etag, etag);
  });

  test('get of a missing key is undefined, but a missing bucket is an error', async () => {
    assert.equal(await store.get(`${fresh('missing')}/nothing`), undefined);
    await assert.rejects(new S3BlobStore(harness.clients.s3, 'no-such-bucket-here').get('x'));
  });

  test('list filters by prefix in key order and pages without duplicates or gaps', async () => {
    const prefix = fresh('list');
    const keys = ['a/1', 'a/2', 'a/3', 'a/4', 'a/5'].map((suffix) => `${prefix}/${suffix}`);
    for (const key of [...keys].reverse()) await store.put(key, key);
    await store.put(`${prefix}/b/1`, 'other folder');
    await store.put(`${prefix}x/a/1`, 'neighbour prefix');

    const one = await store.list(`${prefix}/a/`);
    assert.deepEqual(
      one.items.map((item) => item.key),
      keys,
    );
    assert.equal(one.cursor, undefined);
    const first = one.items[0];
    assert.ok(first);
    assert.equal(first.size, Buffer.byteLength(keys[0] ?? ''));
    assert.equal(first.etag, md5(Buffer.from(keys[0] ?? '')));
    assert.ok(!Number.isNaN(Date.parse(first.lastModified)));

    const paged = await listAll(store, `${prefix}/a/`, 2, [2, 2, 1]);
    assert.deepEqual(
      paged.map((item) => item.key),
      keys,
    );
    const exact = await listAll(store, `${prefix}/a/`, 5, [5]);
    assert.equal(exact.length, 5);

    const whole = await store.list(`${prefix}/`);
    assert.deepEqual(
      whole.items.map((item) => item.key),
      [...keys, `${prefix}/b/1`],
    );
    assert.deepEqual(await store.list(fresh('nothing-here')), { items: [] });
  });

  test('a non-positive limit or a malformed cursor is a bad-request', async () => {
    await assert.rejects(store.list('x', { limit: 0 }), isKind('bad-request'));
    const prefix = fresh('cursor');
    for (const suffix of ['1', '2', '3']) await store.put(`${prefix}/${suffix}`, suffix);
    const first = await store.list(`${prefix}/`, { limit: 1 });
    assert.ok(first.cursor);
    const wrap = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
    for (const cursor of [
      '',
      'not a token!',
      'bm90LWEtdG9rZW4',
      wrap(['x']),
      wrap({ prefix: `${prefix}/` }),
      wrap({ prefix: `${prefix}/`, token: '' }),
      wrap({ prefix: `${prefix}/`, token: 'garbage' }),
      // A cursor issued for another prefix.
      first.cursor,
    ]) {
      const requested = cursor === first.cursor ? `${prefix}/2` : `${prefix}/`;
      await assert.rejects(store.list(requested, { cursor }), isKind('bad-request'), cursor);
    }
  });

  test('delete is idempotent', async () => {
    const key = `${fresh('del')}/x`;
    await store.put(key, 'bye');
    await store.delete(key);
    assert.equal(await store.get(key), undefined);
    await store.delete(key);
    await store.delete(`${fresh('del')}/never-existed`);
  });

  test('a presigned GET downloads without credentials until it expires', async () => {
    const key = `${fresh('presign')}/report file.bin`;
    const body = randomBytes(2048);
    await store.put(key, body, 'application/octet-stream');
    const url = new URL(await store.presignGet(key, 60));
    assert.equal(url.searchParams.get('X-Amz-Expires'), '60');
    assert.match(url.searchParams.get('X-Amz-Signature') ?? '', /^[0-9a-f]{64}$/);

    const response = await fetch(url);
    assert.equal(response.status, 200);
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), body);

    // s3rver does not verify SigV4 signatures, but it does enforce expiry.
    const shortLived = await store.presignGet(key, 1);
    await sleep(1200);
    const expired = await fetch(shortLived);
    await expired.arrayBuffer();
    assert.equal(expired.status, 403);
  });

  test('a presigned PUT uploads without credentials', async () => {
    const key = `${fresh('presign')}/upload.csv`;
    const url = await store.presignPut(key, 60, 'text/csv');
    // The content type is signed, so real S3 refuses an upload with another one.
    assert.deepEqual(new URL(url).searchParams.get('X-Amz-SignedHeaders')?.split(';'), [
      'content-type',
      'host',
    ]);
    const body = 'a,b\n1,2\n';
    const response = await fetch(url, { method: 'PUT', body, headers: { 'content-type': 'text/csv' } });
    await response.arrayBuffer();
    assert.equal(response.status, 200);
    const read = await store.get(key);
    assert.equal(new TextDecoder().decode(read?.body), body);
    assert.equal(read?.contentType, 'text/csv');

    const untyped = `${fresh('presign')}/upload.bin`;
    const untypedUrl = await store.presignPut(untyped, 60);
    const bytes = randomBytes(100);
    const untypedResponse = await fetch(untypedUrl, { method: 'PUT', body: bytes });
    await untypedResponse.arrayBuffer();
    assert.equal(untypedResponse.status, 200);
    assert.deepEqual(Buffer.from((await store.get(untyped))?.body ?? []), bytes);
  });

  test('ping resolves while the bucket answers', async () => {
    await store.ping();
  });

  test('ping rejects as unavailable for a missing bucket or an endpoint where nothing listens', async () => {
    await assert.rejects(
      new S3BlobStore(harness.clients.s3, 'no-such-bucket-here').ping(),
      isKind('unavailable'),
    );
    const port = await freePort();
    const clients = standInClients(
      { ...harness.standIns, s3Endpoint: `http://127.0.0.1:${port}` },
      { maxAttempts: 1 },
    );
    try {
      await assert.rejects(new S3BlobStore(clients.s3, BUCKET).ping(), isKind('unavailable'));
    } finally {
      clients.destroy();
    }
  });

  test('objects survive a restart with the same data folder; ping fails while stopped', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'sluice-s3-'));
    let running: Harness | undefined;
    try {
      running = await startHarness(dataDir);
      const body = randomBytes(1000);
      const { etag } = await running.store.put('kept/one.bin', body, 'application/x-kept');
      await running.store.put('kept/two.txt', 'two');

      const oneShot = standInClients(running.standIns, { maxAttempts: 1 });
      try {
        const stoppedStore = new S3BlobStore(oneShot.s3, BUCKET);
        await stoppedStore.ping();
        await stopHarness(running);
        running = undefined;
        await assert.rejects(stoppedStore.ping(), isKind('unavailable'));
      } finally {
        oneShot.destroy();
      }

      running = await startHarness(dataDir);
      const read = await running.store.get('kept/one.bin');
      assert.ok(read);
      assert.deepEqual(Buffer.from(read.body), body);
      assert.equal(read.contentType, 'application/x-kept');
      assert.equal(read.etag, etag);
      assert.deepEqual(
        (await running.store.list('kept/')).items.map((item) => item.key),
        ['kept/one.bin', 'kept/two.txt'],
      );
    } finally {
      await stopHarness(running);
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
