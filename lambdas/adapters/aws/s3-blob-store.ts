/**
 * S3 adapter of the {@link BlobStore} port. One bucket; keys are used as
 * given. Locally it runs unchanged against s3rver (path-style addressing,
 * credentials S3RVER/S3RVER), so the SDK code path is the one used in Lambda.
 *
 * List cursors are base64url JSON of `{ prefix, token }` where `token` is
 * S3's NextContinuationToken: opaque to callers, and a cursor that is
 * malformed or was issued for another prefix is a `bad-request` before any
 * request is sent.
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { badRequest, unavailable } from '../../core/errors.ts';
import type { BlobObject, BlobStore, BlobSummary } from '../../ports/blob-store.ts';
import type { Page, PageRequest } from '../../ports/metadata-store.ts';

/** Page size when the caller gives none. */
export const DEFAULT_LIST_LIMIT = 50;
/** S3 returns at most 1000 keys per request; larger requests are clamped. */
export const MAX_LIST_LIMIT = 1000;

const DEFAULT_CONTENT_TYPE = 'application/octet-stream';
const TEXT_CONTENT_TYPE = 'text/plain; charset=utf-8';

export class S3BlobStore implements BlobStore {
  readonly bucket: string;
  readonly #s3: S3Client;

  constructor(s3: S3Client, bucket: string) {
    this.#s3 = s3;
    this.bucket = bucket;
  }

  async put(key: string, body: Uint8Array | string, contentType?: string): Promise<{ etag: string }> {
    const result = await this.#s3.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: body,
        ContentType: contentType ?? (typeof body === 'string' ? TEXT_CONTENT_TYPE : DEFAULT_CONTENT_TYPE),
      }),
    );
    return { etag: unquote(result.ETag) };
  }

  async get(key: string): Promise<BlobObject | undefined> {
    try {
      const result = await this.#s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      const body = result.Body ? await result.Body.transformToByteArray() : new Uint8Array();
      return {
        key,
        body,
        contentType: result.ContentType ?? DEFAULT_CONTENT_TYPE,
        etag: unquote(result.ETag),
        size: result.ContentLength ?? body.byteLength,
        lastModified: (result.LastModified ?? new Date(0)).toISOString(),
      };
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async list(prefix: string, page: Omit<PageRequest, 'descending'> = {}): Promise<Page<BlobSummary>> {
    const limit = listLimit(page.limit);
    const token = page.cursor === undefined ? undefined : decodeCursor(page.cursor, prefix);
    let result: ListObjectsV2CommandOutput;
    try {
      result = await this.#s3.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: prefix,
          MaxKeys: limit,
          ...(token ? { ContinuationToken: token } : {}),
        }),
      );
    } catch (error) {
      if (token && errorName(error) === 'InvalidArgument') throw badRequest('Invalid page cursor');
      throw error;
    }
    const items: BlobSummary[] = (result.Contents ?? []).map((entry) => ({
      key: entry.Key ?? '',
      size: entry.Size ?? 0,
      etag: unquote(entry.ETag),
      lastModified: (entry.LastModified ?? new Date(0)).toISOString(),
    }));
    return {
      items,
      ...(result.IsTruncated && result.NextContinuationToken
        ? { cursor: encodeCursor(prefix, result.NextContinuationToken) }
        : {}),
    };
  }

  async delete(key: string): Promise<void> {
    try {
      await this.#s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (error) {
      if (isMissing(error)) return;
      throw error;
    }
  }

  presignGet(key: string, expiresInSeconds: number): Promise<string> {
    return getSignedUrl(this.#s3, new GetObjectCommand({ Bucket: this.bucket, Key: key }), {
      expiresIn: expiresInSeconds,
    });
  }

  presignPut(key: string, expiresInSeconds: number, contentType?: string): Promise<string> {
    return getSignedUrl(
      this.#s3,
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        ...(contentType ? { ContentType: contentType } : {}),
      }),
      // Sign the content type so the uploader must send the one we agreed on.
      { expiresIn: expiresInSeconds, ...(contentType ? { signableHeaders: new Set(['content-type']) } : {}) },
    );
  }

  async ping(): Promise<void> {
    try {
      await this.#s3.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (error) {
      const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      throw unavailable(`Bucket ${this.bucket} is not reachable: ${reason}`);
    }
  }
}

function unquote(etag: string | undefined): string {
  return (etag ?? '').replace(/^"|"$/g, '');
}

function listLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_LIST_LIMIT;
  if (!Number.isInteger(limit) || limit < 1) {
    throw badRequest(`Page limit must be a positive integer, got ${limit}`);
  }
  return Math.min(limit, MAX_LIST_LIMIT);
}

function encodeCursor(prefix: string, token: string): string {
  return Buffer.from(JSON.stringify({ prefix, token }), 'utf8').toString('base64url');
}

function decodeCursor(cursor: string, prefix: string): string {
  const invalid = () => badRequest('Invalid page cursor');
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (
    typeof parsed !== 'object' ||
    parsed === null ||
    !('prefix' in parsed) ||
    !('token' in parsed) ||
    parsed.prefix !== prefix ||
    typeof parsed.token !== 'string' ||
    parsed.token === ''
  ) {
    throw invalid();
  }
  return parsed.token;
}

function errorName(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'name' in error && typeof error.name === 'string'
    ? error.name
    : undefined;
}

function isMissing(error: unknown): boolean {
  const name = errorName(error);
  if (name === 'NoSuchKey' || name === 'NotFound') return true;
  const status =
    typeof error === 'object' && error !== null && '$metadata' in error
      ? (error.$metadata as { httpStatusCode?: number } | undefined)?.httpStatusCode
      : undefined;
  return status === 404 && name !== 'NoSuchBucket';
}
