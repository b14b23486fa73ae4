/**
 * Metadata store port: a small, typed item store with the access patterns
 * Sluice needs. It is shaped after a DynamoDB single-table design (see
 * adapters/aws/dynamodb-metadata-store.ts for the key schema) but names no
 * AWS concept, so the core depends on this interface only.
 *
 * Every write is a single-item conditional write: no transactions, so the
 * same adapter runs on DynamoDB, dynalite and DynamoDB Local.
 */

/** Identity of an item: a partition (e.g. `flow#42`) and a sort key inside it (e.g. `meta`). */
export interface ItemKey {
  partition: string;
  sort: string;
}

/**
 * Optional membership in a listable collection (e.g. all flows of a tenant),
 * ordered by `order` (a string compared lexicographically, e.g. an ISO time).
 */
export interface CollectionEntry {
  name: string;
  order: string;
}

export interface StoredItem<T> {
  key: ItemKey;
  collection?: CollectionEntry;
  data: T;
  /** Starts at 1 on create and grows by one on every update (optimistic locking). */
  version: number;
  createdAt: string;
  updatedAt: string;
}

export interface NewItem<T> {
  key: ItemKey;
  collection?: CollectionEntry;
  data: T;
}

export interface Page<T> {
  items: T[];
  /** Opaque; pass back to get the next page. Absent on the last page. */
  cursor?: string;
}

export interface PageRequest {
  limit?: number;
  cursor?: string;
  /** Newest (highest sort/order) first. */
  descending?: boolean;
}

export interface MetadataStore {
  /** Stores a new item; throws a `conflict` DomainError if the key is taken. */
  create<T>(item: NewItem<T>): Promise<StoredItem<T>>;
  /**
   * Replaces an item's data (and collection entry) if its stored version is
   * `expectedVersion`; throws `conflict` otherwise and `not-found` if absent.
   */
  update<T>(item: NewItem<T>, expectedVersion: number): Promise<StoredItem<T>>;
  get<T>(key: ItemKey): Promise<StoredItem<T> | undefined>;
  /** Deletes if present (and at `expectedVersion` when given); returns whether it deleted. */
  delete(key: ItemKey, expectedVersion?: number): Promise<boolean>;
  /** Items of one partition whose sort key starts with `sortPrefix`, in sort-key order. */
  listPartition<T>(partition: string, sortPrefix: string, page?: PageRequest): Promise<Page<StoredItem<T>>>;
  /** Members of a collection in `order` order. */
  listCollection<T>(collection: string, page?: PageRequest): Promise<Page<StoredItem<T>>>;
  /** Atomically increments and returns a named counter (first call returns `start`, default 1). */
  nextSequence(name: string, start?: number): Promise<number>;
  /** Resolves when the backing store answers; rejects otherwise. */
  ping(): Promise<void>;
}
