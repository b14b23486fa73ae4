/**
 * Blob store port: files of flows and executions (S3 on AWS and locally).
 */
import type { Page, PageRequest } from './metadata-store.ts';

export interface BlobObject {
  key: string;
  body: Uint8Array;
  contentType: string;
  etag: string;
  size: number;
  lastModified: string;
}

export interface BlobSummary {
  key: string;
  size: number;
  etag: string;
  lastModified: string;
}

export interface BlobStore {
  /** Name of the bucket this store writes to (shown to users for direct uploads). */
  readonly bucket: string;
  put(key: string, body: Uint8Array | string, contentType?: string): Promise<{ etag: string }>;
  /** Returns undefined when the key does not exist. */
  get(key: string): Promise<BlobObject | undefined>;
  /** Objects under a prefix in key order; `cursor` is opaque. */
  list(prefix: string, page?: Omit<PageRequest, 'descending'>): Promise<Page<BlobSummary>>;
  /** Idempotent: deleting a missing key is not an error. */
  delete(key: string): Promise<void>;
  /** A time-limited URL that downloads the object without credentials. */
  presignGet(key: string, expiresInSeconds: number): Promise<string>;
  /** A time-limited URL that uploads the object with HTTP PUT without credentials. */
  presignPut(key: string, expiresInSeconds: number, contentType?: string): Promise<string>;
  /** Resolves when the bucket answers; rejects otherwise. */
  ping(): Promise<void>;
}
