/**
 * Contract of the MetadataStore port, run against the DynamoDB adapter on
 * both local engines: dynalite (in-process) and AWS's DynamoDB Local (Java).
 * The same suite must pass on both, which keeps the adapter on the subset of
 * DynamoDB both implement.
 *
 * DynamoDB Local needs Java 17+: without it the suite fails when CI=true and
 * is skipped (with the reason printed) otherwise.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import {
  type DynamoDbEngine,
  freePort,
  javaAvailable,
  type StandInClients,
  type StandIns,
  standInClients,
  startStandIns,
} from '../../dev-server/stand-ins.ts';
import { DynamoDbMetadataStore } from '../../lambdas/adapters/aws/dynamodb-metadata-store.ts';
import { type DomainErrorKind, isDomainError } from '../../lambdas/core/errors.ts';
import type { MetadataStore, StoredItem } from '../../lambdas/ports/metadata-store.ts';

const TABLE = 'sluice-contract';
const BUCKET = 'sluice-contract-files';

interface Harness {
  store: MetadataStore;
  clients: StandInClients;
  standIns: StandIns;
}

/** A clock that moves one second per reading, so timestamps are distinct and ordered. */
function steppingClock(startIso = '2030-01-01T00:00:00.000Z'): () => Date {
  let now = Date.parse(startIso);
  return () => {
    now += 1000;
    return new Date(now);
  };
}

async function startHarness(engine: DynamoDbEngine, dataDir: string | undefined): Promise<Harness> {
  const standIns = await startStandIns({ dataDir, dynamodb: engine, tableName: TABLE, bucketName: BUCKET });
  const clients = standInClients(standIns);
  const store = new DynamoDbMetadataStore(clients.documents, TABLE, { now: steppingClock() });
  return { store, clients, standIns };
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

const cursorOf = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');

/** Reads every page and checks there is no cursor after the last one. */
async function readAllPages<T>(
  read: (cursor: string | undefined) => Promise<{ items: StoredItem<T>[]; cursor?: string }>,
  expectedPageSizes: number[],
): Promise<StoredItem<T>[]> {
  const all: StoredItem<T>[] = [];
  const sizes: number[] = [];
  let cursor: string | undefined;
  do {
    const page = await read(cursor);
    sizes.push(page.items.length);
    all.push(...page.items);
    cursor = page.cursor;
    assert.ok(sizes.length <= expectedPageSizes.length, `more pages than expected: ${sizes.join(',')}`);
  } while (cursor !== undefined);
  assert.deepEqual(sizes, expectedPageSizes);
  return all;
}

function metadataStoreContract(engine: DynamoDbEngine, unavailableReason: string | undefined): void {
  if (unavailableReason !== undefined) {
    if (process.env.CI === 'true') {
      test(`MetadataStore contract on ${engine}`, () => {
        assert.fail(`${engine} is required in CI but unavailable: ${unavailableReason}`);
      });
    } else {
      console.log(`# skipping the ${engine} MetadataStore contract: ${unavailableReason}`);
      test(`MetadataStore contract on ${engine}`, { skip: unavailableReason }, () => {});
    }
    return;
  }

  describe(`MetadataStore contract on ${engine}`, () => {
    let harness: Harness;
    let store: MetadataStore;
    /** A partition name unique to one test, so tests never see each other's items. */
    const fresh = (label: string) => `${label}#${randomUUID()}`;

    before(async () => {
      harness = await startHarness(engine, undefined);
      store = harness.store;
    });
    after(() => stopHarness(harness));

    test('create then get round-trips nested data and the collection entry', async () => {
      const partition = fresh('flow');
      const data = {
        name: 'nightly ingest',
        tags: ['a', 'b'],
        nested: { list: [1, 'two', { three: true, four: null }], deep: { deeper: { value: 3.25 } } },
        emptyList: [],
        emptyMap: {},
        emptyString: '',
        unicode: 'Grüße €',
      };
      const created = await store.create({
        key: { partition, sort: 'meta' },
        collection: { name: 'flows#tenant-a', order: '2030-01-01T00:00:00Z' },
        data,
      });
      assert.equal(created.version, 1);
      assert.equal(created.createdAt, created.updatedAt);
      assert.ok(!Number.isNaN(Date.parse(created.createdAt)));

      const read = await store.get<typeof data>({ partition, sort: 'meta' });
      assert.deepEqual(read, created);
      assert.deepEqual(read?.data, data);
      assert.deepEqual(read?.collection, { name: 'flows#tenant-a', order: '2030-01-01T00:00:00Z' });
      assert.deepEqual(read?.key, { partition, sort: 'meta' });
    });

    test('an item without a collection has no collection and no index attributes', async () => {
      const partition = fresh('flow');
      const created = await store.create({ key: { partition, sort: 'meta' }, data: { n: 1 } });
      assert.equal(created.collection, undefined);
      const read = await store.get({ partition, sort: 'meta' });
      assert.equal(read?.collection, undefined);
      assert.equal('collection' in (read ?? {}), false);
      const raw = await harness.clients.documents.send(
        new GetCommand({ TableName: TABLE, Key: { pk: partition, sk: 'meta' } }),
      );
      assert.equal(raw.Item?.gsi1pk, undefined);
      assert.equal(raw.Item?.gsi1sk, undefined);
      assert.deepEqual(raw.Item?.data, { n: 1 });
    });

    test('get of a missing item is undefined', async () => {
      assert.equal(await store.get({ partition: fresh('nothing'), sort: 'meta' }), undefined);
    });

    test('create on a taken key is a conflict and keeps the stored item', async () => {
      const key = { partition: fresh('flow'), sort: 'meta' };
      await store.create({ key, data: { first: true } });
      await assert.rejects(store.create({ key, data: { first: false } }), isKind('conflict'));
      assert.deepEqual((await store.get(key))?.data, { first: true });
    });

    test('update at the right version replaces data and bumps version and updatedAt', async () => {
      const key = { partition: fresh('flow'), sort: 'meta' };
      const created = await store.create({ key, data: { step: 1, dropped: 'yes' } });
      const updated = await store.update({ key, data: { step: 2 } }, 1);
      assert.equal(updated.version, 2);
      assert.deepEqual(updated.data, { step: 2 });
      assert.equal(updated.createdAt, created.createdAt);
      assert.ok(updated.updatedAt > created.updatedAt, `${updated.updatedAt} > ${created.updatedAt}`);
      assert.deepEqual(await store.get(key), updated);

      const again = await store.update({ key, data: { step: 3 } }, 2);
      assert.equal(again.version, 3);
      assert.ok(again.updatedAt > updated.updatedAt);
    });

    test('update at a stale version is a conflict and changes nothing', async () => {
      const key = { partition: fresh('flow'), sort: 'meta' };
      await store.create({ key, data: { step: 1 } });
      await store.update({ key, data: { step: 2 } }, 1);
      await assert.rejects(store.update({ key, data: { step: 99 } }, 1), isKind('conflict'));
      await assert.rejects(store.update({ key, data: { step: 99 } }, 3), isKind('conflict'));
      const read = await store.get(key);
      assert.equal(read?.version, 2);
      assert.deepEqual(read?.data, { step: 2 });
    });

    test('update of a missing item is not-found and does not create it', async () => {
      const key = { partition: fresh('flow'), sort: 'meta' };
      await assert.rejects(store.update({ key, data: { step: 1 } }, 1), isKind('not-found'));
      assert.equal(await store.get(key), undefined);
    });

    test('delete without an expected version', async () => {
      const key = { partition: fresh('flow'), sort: 'meta' };
      await store.create({ key, data: {} });
      assert.equal(await store.delete(key), true);
      assert.equal(await store.get(key), undefined);
      assert.equal(await store.delete(key), false);
    });

    test('delete with an expected version', async () => {
      const key = { partition: fresh('flow'), sort: 'meta' };
      await store.create({ key, data: {} });
      await store.update({ key, data: { v: 2 } }, 1);
      await assert.rejects(store.delete(key, 1), isKind('conflict'));
      assert.equal((await store.get(key))?.version, 2);
      assert.equal(await store.delete(key, 2), true);
      assert.equal(await store.get(key), undefined);
      assert.equal(await store.delete(key, 2), false);
    });

    describe('listPartition', () => {
      let partition: string;
      const runSorts = ['run#001', 'run#002', 'run#003', 'run#004', 'run#005', 'run#006', 'run#007'];
      const allSorts = ['log#1', 'meta', ...runSorts].sort();

      before(async () => {
        partition = fresh('flow');
        // Created out of order on purpose: the store must sort.
        for (const sort of [...allSorts].reverse()) {
          await store.create({ key: { partition, sort }, data: { sort } });
        }
        // Same sort keys in a neighbouring partition must never leak in.
        await store.create({ key: { partition: `${partition}x`, sort: 'run#000' }, data: {} });
        await store.create({ key: { partition: `${partition}x`, sort: 'run#004' }, data: {} });
      });

      test('filters by sort-key prefix in ascending order', async () => {
        const page = await store.listPartition<{ sort: string }>(partition, 'run#');
        assert.deepEqual(
          page.items.map((item) => item.key.sort),
          runSorts,
        );
        assert.ok(page.items.every((item) => item.key.partition === partition));
        assert.deepEqual(
          page.items.map((item) => item.data.sort),
          runSorts,
        );
        assert.equal(page.cursor, undefined);
      });

      test('an empty prefix lists the whole partition', async () => {
        const page = await store.listPartition(partition, '');
        assert.deepEqual(
          page.items.map((item) => item.key.sort),
          allSorts,
        );
      });

      test('descending order', async () => {
        const page = await store.listPartition(partition, 'run#', { descending: true });
        assert.deepEqual(
          page.items.map((item) => item.key.sort),
          [...runSorts].reverse(),
        );
      });

      test('a prefix that matches nothing is an empty last page', async () => {
        assert.deepEqual(await store.listPartition(partition, 'zzz'), { items: [] });
        assert.deepEqual(await store.listPartition(fresh('empty'), ''), { items: [] });
      });

      test('pages with a cursor without duplicates or gaps, ascending and descending', async () => {
        const ascending = await readAllPages(
          (cursor) => store.listPartition(partition, 'run#', { limit: 3, ...(cursor ? { cursor } : {}) }),
          [3, 3, 1],
        );
        assert.deepEqual(
          ascending.map((item) => item.key.sort),
          runSorts,
        );
        const descending = await readAllPages(
          (cursor) =>
            store.listPartition(partition, 'run#', {
              limit: 2,
              descending: true,
              ...(cursor ? { cursor } : {}),
            }),
          [2, 2, 2, 1],
        );
        assert.deepEqual(
          descending.map((item) => item.key.sort),
          [...runSorts].reverse(),
        );
      });

      test('a page that ends exactly at the last item carries no cursor', async () => {
        const page = await store.listPartition(partition, 'run#', { limit: runSorts.length });
        assert.equal(page.items.length, runSorts.length);
        assert.equal(page.cursor, undefined);
        await readAllPages(
          (cursor) => store.listPartition(partition, '', { limit: 3, ...(cursor ? { cursor } : {}) }),
          [3, 3, 3],
        );
      });

      test('the default page size is 50', async () => {
        const big = fresh('big');
        for (let index = 0; index < 51; index += 1) {
          await store.create({
            key: { partition: big, sort: `i#${String(index).padStart(3, '0')}` },
            data: {},
          });
        }
        const first = await store.listPartition(big, 'i#');
        assert.equal(first.items.length, 50);
        assert.ok(first.cursor);
        const second = await store.listPartition(big, 'i#', { cursor: first.cursor });
        assert.deepEqual(
          second.items.map((item) => item.key.sort),
          ['i#050'],
        );
        assert.equal(second.cursor, undefined);
      });

      test('a malformed or foreign cursor is a bad-request', async () => {
        const foreign = await store.listPartition(`${partition}x`, 'run#', { limit: 1 });
        assert.ok(foreign.cursor);
        const badCursors = [
          'not a cursor!',
          '%%%',
          Buffer.from('not json').toString('base64url'),
          cursorOf([1, 2]),
          cursorOf('run#001'),
          cursorOf({ pk: partition }),
          cursorOf({ pk: partition, sk: 5 }),
          cursorOf({ pk: partition, sk: 'run#001', extra: 'x' }),
          cursorOf({ pk: partition, sk: 'meta' }),
          foreign.cursor,
        ];
        for (const cursor of badCursors) {
          await assert.rejects(
            store.listPartition(partition, 'run#', { cursor }),
            isKind('bad-request'),
            cursor,
          );
        }
      });

      test('a non-positive limit is a bad-request', async () => {
        await assert.rejects(store.listPartition(partition, '', { limit: 0 }), isKind('bad-request'));
        await assert.rejects(store.listPartition(partition, '', { limit: 1.5 }), isKind('bad-request'));
      });
    });

    describe('listCollection', () => {
      test('lists members in order (ties broken by key), both directions, with pages', async () => {
        const collection = fresh('flows');
        const members = [
          { partition: 'flow#c', order: '2030-01-03' },
          { partition: 'flow#a', order: '2030-01-01' },
          { partition: 'flow#e', order: '2030-01-02' },
          { partition: 'flow#b', order: '2030-01-02' },
          { partition: 'flow#d', order: '2030-01-02#a' },
        ];
        for (const member of members) {
          await store.create({
            key: { partition: `${member.partition}${collection}`, sort: 'meta' },
            collection: { name: collection, order: member.order },
            data: { id: member.partition },
          });
        }
        await store.create({
          key: { partition: fresh('flow#z'), sort: 'meta' },
          collection: { name: `${collection}-other`, order: '2030-01-01' },
          data: { id: 'other' },
        });
        await store.create({ key: { partition: fresh('flow#y'), sort: 'meta' }, data: { id: 'none' } });

        const expected = ['flow#a', 'flow#b', 'flow#e', 'flow#d', 'flow#c'];
        const ascending = await store.listCollection<{ id: string }>(collection);
        assert.deepEqual(
          ascending.items.map((item) => item.data.id),
          expected,
        );
        assert.deepEqual(ascending.items[0]?.collection, { name: collection, order: '2030-01-01' });
        assert.equal(ascending.cursor, undefined);

        const descending = await store.listCollection<{ id: string }>(collection, { descending: true });
        assert.deepEqual(
          descending.items.map((item) => item.data.id),
          [...expected].reverse(),
        );

        const paged = await readAllPages(
          (cursor) =>
            store.listCollection<{ id: string }>(collection, { limit: 2, ...(cursor ? { cursor } : {}) }),
          [2, 2, 1],
        );
        assert.deepEqual(
          paged.map((item) => item.data.id),
          expected,
        );
        const pagedDown = await readAllPages(
          (cursor) =>
            store.listCollection<{ id: string }>(collection, {
              limit: 3,
              descending: true,
              ...(cursor ? { cursor } : {}),
            }),
          [3, 2],
        );
        assert.deepEqual(
          pagedDown.map((item) => item.data.id),
          [...expected].reverse(),
        );

        assert.deepEqual(await store.listCollection(fresh('nobody')), { items: [] });
      });

      test('update moves, and dropping the collection removes, membership', async () => {
        const collection = fresh('runs');
        const first = { partition: fresh('run'), sort: 'meta' };
        const second = { partition: fresh('run'), sort: 'meta' };
        await store.create({ key: first, collection: { name: collection, order: '1' }, data: { id: 1 } });
        await store.create({ key: second, collection: { name: collection, order: '2' }, data: { id: 2 } });

        await store.update({ key: first, collection: { name: collection, order: '3' }, data: { id: 1 } }, 1);
        const moved = await store.listCollection<{ id: number }>(collection);
        assert.deepEqual(
          moved.items.map((item) => item.data.id),
          [2, 1],
        );
        assert.deepEqual(moved.items[1]?.collection, { name: collection, order: '3' });

        const dropped = await store.update({ key: second, data: { id: 2 } }, 1);
        assert.equal(dropped.collection, undefined);
        const after = await store.listCollection<{ id: number }>(collection);
        assert.deepEqual(
          after.items.map((item) => item.data.id),
          [1],
        );
        const raw = await harness.clients.documents.send(
          new GetCommand({ TableName: TABLE, Key: { pk: second.partition, sk: 'meta' } }),
        );
        assert.ok(raw.Item);
        assert.equal('gsi1pk' in raw.Item, false);
        assert.equal('gsi1sk' in raw.Item, false);

        await store.update({ key: second, collection: { name: collection, order: '0' }, data: { id: 2 } }, 2);
        const rejoined = await store.listCollection<{ id: number }>(collection);
        assert.deepEqual(
          rejoined.items.map((item) => item.data.id),
          [2, 1],
        );
      });

      test('a malformed or foreign cursor is a bad-request', async () => {
        const collection = fresh('c');
        for (const order of ['1', '2', '3']) {
          await store.create({
            key: { partition: fresh('p'), sort: 'meta' },
            collection: { name: collection, order },
            data: {},
          });
        }
        const other = fresh('c');
        await store.create({
          key: { partition: fresh('p'), sort: 'meta' },
          collection: { name: other, order: '1' },
          data: {},
        });
        await store.create({
          key: { partition: fresh('p'), sort: 'meta' },
          collection: { name: other, order: '2' },
          data: {},
        });
        const foreign = await store.listCollection(other, { limit: 1 });
        assert.ok(foreign.cursor);
        const partitionCursor = await store.listPartition(foreign.items[0]?.key.partition ?? '', '', {
          limit: 1,
        });
        for (const cursor of [
          'x y',
          cursorOf({ pk: 'p', sk: 'meta' }),
          cursorOf({ pk: 'p', sk: 'meta', gsi1pk: collection }),
          foreign.cursor,
          partitionCursor.cursor ?? cursorOf({ pk: 'p', sk: 'meta' }),
        ]) {
          await assert.rejects(store.listCollection(collection, { cursor }), isKind('bad-request'), cursor);
        }
      });
    });

    describe('nextSequence', () => {
      test('starts at 1 and grows by one', async () => {
        const name = fresh('seq');
        assert.equal(await store.nextSequence(name), 1);
        assert.equal(await store.nextSequence(name), 2);
        assert.equal(await store.nextSequence(name), 3);
        assert.equal(await store.nextSequence(fresh('seq')), 1, 'counters are independent');
      });

      test('concurrent calls get distinct, contiguous values', async () => {
        const name = fresh('seq');
        const values = await Promise.all(Array.from({ length: 20 }, () => store.nextSequence(name)));
        assert.deepEqual(
          [...values].sort((a, b) => a - b),
          Array.from({ length: 20 }, (_, index) => index + 1),
        );
        assert.equal(await store.nextSequence(name), 21);
      });

      test('honours a custom start on first use only', async () => {
        const name = fresh('seq');
        assert.equal(await store.nextSequence(name, 1000), 1000);
        assert.equal(await store.nextSequence(name, 1000), 1001);
        assert.equal(await store.nextSequence(name, 5), 1002);
        assert.equal(await store.nextSequence(fresh('seq'), 0), 0);
      });
    });

    describe('ping', () => {
      test('resolves while the engine answers', async () => {
        await store.ping();
      });

      test('rejects as unavailable on an endpoint where nothing listens', async () => {
        const port = await freePort();
        const clients = standInClients(
          { ...harness.standIns, dynamodbEndpoint: `http://127.0.0.1:${port}` },
          { maxAttempts: 1 },
        );
        try {
          await assert.rejects(
            new DynamoDbMetadataStore(clients.documents, TABLE).ping(),
            isKind('unavailable'),
          );
        } finally {
          clients.destroy();
        }
      });

      test('rejects on a table that does not exist', async () => {
        await assert.rejects(
          new DynamoDbMetadataStore(harness.clients.documents, 'no-such-table').ping(),
          isKind('unavailable'),
        );
      });
    });

    test('data survives a restart with the same data folder; ping fails while stopped', async () => {
      const dataDir = await mkdtemp(join(tmpdir(), `sluice-${engine}-`));
      let running: Harness | undefined;
      try {
        running = await startHarness(engine, dataDir);
        const key = { partition: 'flow#persisted', sort: 'meta' };
        const created = await running.store.create({
          key,
          collection: { name: 'flows#persisted', order: '2030-01-01' },
          data: { survives: true, nested: { list: [1, 2] } },
        });
        assert.equal(await running.store.nextSequence('persisted'), 1);
        assert.equal(await running.store.nextSequence('persisted'), 2);

        const oneShot = standInClients(running.standIns, { maxAttempts: 1 });
        try {
          const stoppedStore = new DynamoDbMetadataStore(oneShot.documents, TABLE);
          await stoppedStore.ping();
          await stopHarness(running);
          running = undefined;
          await assert.rejects(stoppedStore.ping(), isKind('unavailable'));
        } finally {
          oneShot.destroy();
        }

        running = await startHarness(engine, dataDir);
        assert.deepEqual(await running.store.get(key), created);
        assert.deepEqual(
          (await running.store.listCollection('flows#persisted')).items.map((item) => item.key),
          [key],
        );
        assert.equal(await running.store.nextSequence('persisted'), 3);
        await assert.rejects(running.store.create({ key, data: {} }), isKind('conflict'));
      } finally {
        await stopHarness(running);
        await rm(dataDir, { recursive: true, force: true });
      }
    });
  });
}

metadataStoreContract('dynalite', undefined);
metadataStoreContract(
  'dynamodb-local',
  javaAvailable() ? undefined : 'no working `java` (Java 17+) on PATH for DynamoDB Local',
);
