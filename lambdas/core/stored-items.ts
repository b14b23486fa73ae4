import type { MetadataStore, NewItem, Page, PageRequest, StoredItem } from '../ports/metadata-store.ts';
import { isDomainErrorOf } from './errors.ts';

/** Follows the cursor of a listing to its end: for sets that stay small (a tenant's triggers, an org's flows). */
async function allPages<T>(list: (page: PageRequest) => Promise<Page<StoredItem<T>>>): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | undefined;
  do {
    const page = await list({ limit: 1000, ...(cursor ? { cursor } : {}) });
    out.push(...page.items.map((item) => item.data));
    cursor = page.cursor;
  } while (cursor);
  return out;
}

/** Every member of a collection, in its order. */
export const wholeCollection = <T>(store: MetadataStore, collection: string): Promise<T[]> =>
  allPages((page) => store.listCollection<T>(collection, page));

/** Every item of a partition whose sort key starts with `sortPrefix`. */
export const wholePartition = <T>(
  store: MetadataStore,
  partition: string,
  sortPrefix: string,
): Promise<T[]> => allPages((page) => store.listPartition<T>(partition, sortPrefix, page));

/** Creates the item unless it exists: a repeated call (a retry, a redelivery) finds it done. */
export async function createIfAbsent<T>(store: MetadataStore, item: NewItem<T>): Promise<void> {
  try {
    await store.create(item);
  } catch (error) {
    if (!isDomainErrorOf(error, 'conflict')) throw error;
  }
}
