/**
 * DynamoDB adapter of the {@link MetadataStore} port: one table, single-item
 * conditional writes only (no transactions, no PartiQL, no TTL, no Scan), so
 * the same code runs on DynamoDB, dynalite and DynamoDB Local.
 *
 * Key schema (names from {@link tableDesign}, see table-design.ts):
 *
 * | attribute | holds                                                              |
 * |-----------|--------------------------------------------------------------------|
 * | pk        | `ItemKey.partition`, e.g. `flow#42`                                |
 * | sk        | `ItemKey.sort`, e.g. `meta`                                        |
 * | gsi1pk    | collection name; present only when the item is in a collection     |
 * | gsi1sk    | `${order}\u0001${pk}\u0001${sk}`: order first, then the key for ties |
 * | data      | the item's payload (usually a map)                                 |
 * | version   | 1 on create, +1 on every update (optimistic locking)               |
 * | createdAt | ISO-8601 time of the create                                        |
 * | updatedAt | ISO-8601 time of the last write                                    |
 *
 * The tie-breaker separator is U+0001 rather than `#` so that an order which
 * is a prefix of another still sorts first (`a` < `a#b`); orders must not
 * contain U+0000.
 *
 * Access patterns:
 * - get / create / update / delete one item: GetItem (strongly consistent),
 *   PutItem with `attribute_not_exists(pk)`, UpdateItem with
 *   `version = :expected`, DeleteItem (optionally with the same condition).
 * - list a partition by sort-key prefix: Query on the table,
 *   `pk = :pk AND begins_with(sk, :prefix)`.
 * - list a collection in order: Query on `gsi1`, `gsi1pk = :name`.
 * - counters: UpdateItem `SET counter = if_not_exists(counter, :start - 1) + 1`
 *   on pk=`sequence#${name}`, sk=`sequence`.
 * - ping: GetItem on a fixed key (needs only `dynamodb:GetItem`).
 *
 * Page cursors are base64url-encoded JSON of the key to continue after; a
 * cursor that does not decode to a key of the requested partition or
 * collection is a `bad-request` DomainError.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  type QueryCommandOutput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { badRequest, conflict, notFound, unavailable } from '../../core/errors.ts';
import type {
  CollectionEntry,
  ItemKey,
  MetadataStore,
  NewItem,
  Page,
  PageRequest,
  StoredItem,
} from '../../ports/metadata-store.ts';
import { tableDesign } from './table-design.ts';

const PK = tableDesign.partitionKey;
const SK = tableDesign.sortKey;
const GSI = tableDesign.collectionIndex;

/** Page size when the caller gives none. */
export const DEFAULT_PAGE_LIMIT = 50;
/** Larger requested pages are clamped to this size. */
export const MAX_PAGE_LIMIT = 1000;

const TIE_SEPARATOR = '\u0001';
const PING_KEY = { [PK]: 'sluice#ping', [SK]: 'ping' };

/** The item as stored in the table. */
interface StoredRecord {
  pk: string;
  sk: string;
  gsi1pk?: string;
  gsi1sk?: string;
  data: unknown;
  version: number;
  createdAt: string;
  updatedAt: string;
}

type KeyRecord = Record<string, string>;

export interface DynamoDbMetadataStoreOptions {
  /** Clock for createdAt/updatedAt; defaults to the system clock. */
  now?: () => Date;
}

export class DynamoDbMetadataStore implements MetadataStore {
  readonly #documents: DynamoDBDocumentClient;
  readonly #tableName: string;
  readonly #now: () => Date;

  constructor(
    documents: DynamoDBDocumentClient,
    tableName: string,
    options: DynamoDbMetadataStoreOptions = {},
  ) {
    this.#documents = documents;
    this.#tableName = tableName;
    this.#now = options.now ?? (() => new Date());
  }

  async create<T>(item: NewItem<T>): Promise<StoredItem<T>> {
    const now = this.#now().toISOString();
    const record: StoredRecord = {
      pk: item.key.partition,
      sk: item.key.sort,
      ...collectionAttributes(item.key, item.collection),
      data: item.data,
      version: 1,
      createdAt: now,
      updatedAt: now,
    };
    try {
      await this.#documents.send(
        new PutCommand({
          TableName: this.#tableName,
          Item: record,
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': PK },
        }),
      );
    } catch (error) {
      if (isConditionalCheckFailed(error)) {
        throw conflict(`Item ${describeKey(item.key)} already exists`);
      }
      throw error;
    }
    return toStoredItem<T>(record);
  }

  async update<T>(item: NewItem<T>, expectedVersion: number): Promise<StoredItem<T>> {
    const names: Record<string, string> = {
      '#data': 'data',
      '#version': 'version',
      '#updatedAt': 'updatedAt',
      '#gsi1pk': GSI.partitionKey,
      '#gsi1sk': GSI.sortKey,
    };
    const values: Record<string, unknown> = {
      ':data': item.data,
      ':expected': expectedVersion,
      ':one': 1,
      ':now': this.#now().toISOString(),
    };
    let expression = 'SET #data = :data, #version = #version + :one, #updatedAt = :now';
    if (item.collection) {
      const attributes = collectionAttributes(item.key, item.collection);
      values[':gsi1pk'] = attributes.gsi1pk;
      values[':gsi1sk'] = attributes.gsi1sk;
      expression += ', #gsi1pk = :gsi1pk, #gsi1sk = :gsi1sk';
    } else {
      expression += ' REMOVE #gsi1pk, #gsi1sk';
    }
    try {
      const result = await this.#documents.send(
        new UpdateCommand({
          TableName: this.#tableName,
          Key: toKeyRecord(item.key),
          UpdateExpression: expression,
          ConditionExpression: '#version = :expected',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return toStoredItem<T>(asRecord(result.Attributes));
    } catch (error) {
      if (isConditionalCheckFailed(error)) {
        if (await this.#existsAfterFailedCondition(item.key, error)) {
          throw conflict(`Item ${describeKey(item.key)} is not at version ${expectedVersion}`);
        }
        throw notFound(`Item ${describeKey(item.key)} does not exist`);
      }
      throw error;
    }
  }

  async get<T>(key: ItemKey): Promise<StoredItem<T> | undefined> {
    const result = await this.#documents.send(
      new GetCommand({ TableName: this.#tableName, Key: toKeyRecord(key), ConsistentRead: true }),
    );
    return result.Item ? toStoredItem<T>(asRecord(result.Item)) : undefined;
  }

  async delete(key: ItemKey, expectedVersion?: number): Promise<boolean> {
    if (expectedVersion === undefined) {
      const result = await this.#documents.send(
        new DeleteCommand({ TableName: this.#tableName, Key: toKeyRecord(key), ReturnValues: 'ALL_OLD' }),
      );
      return result.Attributes !== undefined;
    }
    try {
      await this.#documents.send(
        new DeleteCommand({
          TableName: this.#tableName,
          Key: toKeyRecord(key),
          ConditionExpression: '#version = :expected',
          ExpressionAttributeNames: { '#version': 'version' },
          ExpressionAttributeValues: { ':expected': expectedVersion },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) {
        if (await this.#existsAfterFailedCondition(key, error)) {
          throw conflict(`Item ${describeKey(key)} is not at version ${expectedVersion}`);
        }
        return false;
      }
      throw error;
    }
  }

  async listPartition<T>(
    partition: string,
    sortPrefix: string,
    page: PageRequest = {},
  ): Promise<Page<StoredItem<T>>> {
    const names: Record<string, string> = { '#pk': PK };
    const values: Record<string, unknown> = { ':pk': partition };
    let condition = '#pk = :pk';
    if (sortPrefix !== '') {
      // An empty begins_with operand is rejected by DynamoDB; no prefix means the whole partition.
      names['#sk'] = SK;
      values[':prefix'] = sortPrefix;
      condition += ' AND begins_with(#sk, :prefix)';
    }
    const startKey =
      page.cursor === undefined
        ? undefined
        : decodeCursor(
            page.cursor,
            [PK, SK],
            (key) => key[PK] === partition && key[SK]?.startsWith(sortPrefix),
          );
    return this.#query<T>(
      {
        TableName: this.#tableName,
        KeyConditionExpression: condition,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
        ConsistentRead: true,
        ...(startKey ? { ExclusiveStartKey: startKey } : {}),
      },
      page,
      (record) => ({ [PK]: record.pk, [SK]: record.sk }),
    );
  }

  async listCollection<T>(collection: string, page: PageRequest = {}): Promise<Page<StoredItem<T>>> {
    const startKey =
      page.cursor === undefined
        ? undefined
        : decodeCursor(
            page.cursor,
            [PK, SK, GSI.partitionKey, GSI.sortKey],
            (key) => key[GSI.partitionKey] === collection,
          );
    return this.#query<T>(
      {
        TableName: this.#tableName,
        IndexName: GSI.name,
        KeyConditionExpression: '#gsi1pk = :name',
        ExpressionAttributeNames: { '#gsi1pk': GSI.partitionKey },
        ExpressionAttributeValues: { ':name': collection },
        ...(startKey ? { ExclusiveStartKey: startKey } : {}),
      },
      page,
      (record) => ({
        [PK]: record.pk,
        [SK]: record.sk,
        [GSI.partitionKey]: record.gsi1pk ?? '',
        [GSI.sortKey]: record.gsi1sk ?? '',
      }),
    );
  }

  async nextSequence(name: string, start = 1): Promise<number> {
    if (!Number.isSafeInteger(start)) {
      throw badRequest(`Sequence start must be an integer, got ${start}`);
    }
    const result = await this.#documents.send(
      new UpdateCommand({
        TableName: this.#tableName,
        Key: { [PK]: `sequence#${name}`, [SK]: 'sequence' },
        UpdateExpression: 'SET #counter = if_not_exists(#counter, :before) + :one',
        ExpressionAttributeNames: { '#counter': 'counter' },
        ExpressionAttributeValues: { ':before': start - 1, ':one': 1 },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    const value: unknown = result.Attributes?.counter;
    if (typeof value !== 'number') {
      throw new Error(`Sequence ${name} returned no numeric counter`);
    }
    return value;
  }

  async ping(): Promise<void> {
    try {
      await this.#documents.send(new GetCommand({ TableName: this.#tableName, Key: PING_KEY }));
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw unavailable(`Metadata table ${this.#tableName} is not reachable: ${reason}`);
    }
  }

  /**
   * Runs a Query for `limit + 1` items so the cursor points exactly after the
   * last returned item and a full last page carries no cursor.
   */
  async #query<T>(
    input: QueryCommandInput,
    page: PageRequest,
    keyOf: (record: StoredRecord) => KeyRecord,
  ): Promise<Page<StoredItem<T>>> {
    const limit = pageLimit(page.limit);
    let result: QueryCommandOutput;
    try {
      result = await this.#documents.send(
        new QueryCommand({ ...input, Limit: limit + 1, ScanIndexForward: !page.descending }),
      );
    } catch (error) {
      if (input.ExclusiveStartKey && isValidationError(error)) {
        throw badRequest('Invalid page cursor');
      }
      throw error;
    }
    const records = (result.Items ?? []).map(asRecord);
    if (records.length > limit) {
      const items = records.slice(0, limit);
      const last = items[items.length - 1];
      return {
        items: items.map((record) => toStoredItem<T>(record)),
        ...(last ? { cursor: encodeCursor(keyOf(last)) } : {}),
      };
    }
    const lastKey = result.LastEvaluatedKey;
    return {
      items: records.map((record) => toStoredItem<T>(record)),
      ...(lastKey ? { cursor: encodeCursor(toStringRecord(lastKey)) } : {}),
    };
  }

  /**
   * After a failed condition: does the item exist? DynamoDB and DynamoDB
   * Local return the old item on the error (ReturnValuesOnConditionCheckFailure);
   * dynalite does not, so fall back to a consistent read.
   */
  async #existsAfterFailedCondition(key: ItemKey, error: unknown): Promise<boolean> {
    if (typeof error === 'object' && error !== null && 'Item' in error && error.Item) {
      return true;
    }
    return (await this.get(key)) !== undefined;
  }
}

function collectionAttributes(
  key: ItemKey,
  collection: CollectionEntry | undefined,
): { gsi1pk?: string; gsi1sk?: string } {
  if (!collection) return {};
  return {
    gsi1pk: collection.name,
    gsi1sk: `${collection.order}${tieBreaker(key)}`,
  };
}

function tieBreaker(key: ItemKey): string {
  return `${TIE_SEPARATOR}${key.partition}${TIE_SEPARATOR}${key.sort}`;
}

function toKeyRecord(key: ItemKey): KeyRecord {
  return { [PK]: key.partition, [SK]: key.sort };
}

function describeKey(key: ItemKey): string {
  return `${key.partition}/${key.sort}`;
}

function toStoredItem<T>(record: StoredRecord): StoredItem<T> {
  const key = { partition: record.pk, sort: record.sk };
  const stored: StoredItem<T> = {
    key,
    data: record.data as T,
    version: record.version,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
  };
  if (record.gsi1pk !== undefined && record.gsi1sk !== undefined) {
    const suffix = tieBreaker(key);
    const order = record.gsi1sk.endsWith(suffix) ? record.gsi1sk.slice(0, -suffix.length) : record.gsi1sk;
    stored.collection = { name: record.gsi1pk, order };
  }
  return stored;
}

function asRecord(value: Record<string, unknown> | undefined): StoredRecord {
  if (
    !value ||
    typeof value.pk !== 'string' ||
    typeof value.sk !== 'string' ||
    typeof value.version !== 'number' ||
    typeof value.createdAt !== 'string' ||
    typeof value.updatedAt !== 'string'
  ) {
    throw new Error('Metadata table returned an item without the expected attributes');
  }
  return {
    pk: value.pk,
    sk: value.sk,
    ...(typeof value.gsi1pk === 'string' ? { gsi1pk: value.gsi1pk } : {}),
    ...(typeof value.gsi1sk === 'string' ? { gsi1sk: value.gsi1sk } : {}),
    data: value.data,
    version: value.version,
    createdAt: value.createdAt,
    updatedAt: value.updatedAt,
  };
}

function toStringRecord(value: Record<string, unknown>): KeyRecord {
  const key: KeyRecord = {};
  for (const [name, attribute] of Object.entries(value)) {
    if (typeof attribute !== 'string') {
      throw new Error(`Metadata table returned a non-string key attribute ${name}`);
    }
    key[name] = attribute;
  }
  return key;
}

function pageLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_PAGE_LIMIT;
  if (!Number.isInteger(limit) || limit < 1) {
    throw badRequest(`Page limit must be a positive integer, got ${limit}`);
  }
  return Math.min(limit, MAX_PAGE_LIMIT);
}

function encodeCursor(key: KeyRecord): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

/** Decodes a cursor into a start key with exactly `attributes`, all strings, accepted by `belongs`. */
function decodeCursor(
  cursor: string,
  attributes: readonly string[],
  belongs: (key: KeyRecord) => boolean | undefined,
): KeyRecord {
  const invalid = () => badRequest('Invalid page cursor');
  if (cursor === '' || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw invalid();
  const entries = Object.entries(parsed);
  if (entries.length !== attributes.length) throw invalid();
  const key: KeyRecord = {};
  for (const [name, value] of entries) {
    if (!attributes.includes(name) || typeof value !== 'string' || value === '') throw invalid();
    key[name] = value;
  }
  if (!belongs(key)) throw invalid();
  return key;
}

function errorName(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'name' in error && typeof error.name === 'string'
    ? error.name
    : undefined;
}

function isConditionalCheckFailed(error: unknown): boolean {
  return errorName(error) === 'ConditionalCheckFailedException';
}

function isValidationError(error: unknown): boolean {
  return errorName(error) === 'ValidationException';
}
