import { randomUUID } from 'node:crypto';
import type { BlobStore } from '../../ports/blob-store.ts';
import { isDomainErrorOf } from '../errors.ts';
import type { JsonObject } from './json-path.ts';
import type { EngineRecords } from './records.ts';

/** Above this many bytes a context moves to the blob store (DynamoDB items stop at 400 KB). */
export const inlineContextLimit = 256 * 1024;

interface ContextPointer {
  inline?: JsonObject;
  /** Blob key of the context when it is too large to keep inline. */
  blobKey?: string;
  revision: number;
}

/**
 * The per-execution context: the shared JSON of a run. It never travels in
 * a state payload; tasks read and update it here, with optimistic locking so
 * parallel tasks' output mappings never overwrite each other. Large contexts
 * live in the blob store under a new key per write, so a reader never sees
 * a half-written one and a writer that loses the race overwrites nothing.
 */
export class ContextStore {
  readonly records: EngineRecords;
  readonly blobs: BlobStore;
  constructor(records: EngineRecords, blobs: BlobStore) {
    this.records = records;
    this.blobs = blobs;
  }

  private key(executionId: string) {
    return { partition: `execution#${executionId}`, sort: 'context' };
  }

  /** The context a pointer names; undefined when a newer write already replaced (and deleted) its blob. */
  private async load(pointer: ContextPointer | undefined): Promise<JsonObject | undefined> {
    if (!pointer) return {};
    if (pointer.inline) return pointer.inline;
    if (!pointer.blobKey) return {};
    const blob = await this.blobs.get(pointer.blobKey);
    return blob ? (JSON.parse(Buffer.from(blob.body).toString('utf8')) as JsonObject) : undefined;
  }

  async read(executionId: string): Promise<JsonObject> {
    for (let attempt = 0; attempt < 25; attempt += 1) {
      const item = await this.records.store.get<ContextPointer>(this.key(executionId));
      const context = await this.load(item?.data);
      if (context) return context;
    }
    throw new Error(`the context of ${executionId} keeps changing under its reader`);
  }

  /** Applies `change` to the current context and stores the result; retried on a concurrent update. */
  async update(executionId: string, change: (context: JsonObject) => JsonObject): Promise<JsonObject> {
    for (let attempt = 0; attempt < 25; attempt += 1) {
      const item = await this.records.store.get<ContextPointer>(this.key(executionId));
      const current = await this.load(item?.data);
      if (!current) continue;
      const next = change(current);
      const revision = (item?.data.revision ?? 0) + 1;
      const text = JSON.stringify(next);
      let pointer: ContextPointer;
      if (Buffer.byteLength(text) <= inlineContextLimit) {
        pointer = { inline: next, revision };
      } else {
        const blobKey = `executions/${executionId}/context/${String(revision).padStart(6, '0')}-${randomUUID()}.json`;
        await this.blobs.put(blobKey, text, 'application/json');
        pointer = { blobKey, revision };
      }
      try {
        if (item)
          await this.records.store.update({ key: this.key(executionId), data: pointer }, item.version);
        else await this.records.store.create({ key: this.key(executionId), data: pointer });
      } catch (error) {
        if (pointer.blobKey) await this.blobs.delete(pointer.blobKey);
        if (!isDomainErrorOf(error, 'conflict')) throw error;
        continue;
      }
      // The replaced revision is unreachable now.
      if (item?.data.blobKey) await this.blobs.delete(item.data.blobKey);
      return next;
    }
    throw new Error(`could not update the context of ${executionId}: too much contention`);
  }
}
