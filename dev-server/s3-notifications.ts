/**
 * The S3 stand-in's event notifications, made to look like S3's own. s3rver
 * emits the S3 notification structure but with the object key as stored;
 * S3 URL-encodes it (spaces as `+`). Encoding here keeps that difference out
 * of the handler, which decodes what AWS sends.
 */

interface S3rverRecord {
  s3?: { object?: { key?: unknown } };
}

/** URL-encodes a key the way S3 event notifications do: per path segment, spaces as `+`. */
export const encodeEventKey = (key: string): string =>
  key
    .split('/')
    .map((segment) => encodeURIComponent(segment).replace(/%20/g, '+'))
    .join('/');

/** An s3rver `event` as the S3 notification AWS would deliver for it. */
export function toS3Notification(event: unknown): { Records: unknown[] } {
  const records = (event as { Records?: S3rverRecord[] } | undefined)?.Records ?? [];
  return {
    Records: records.map((record) => {
      const object = record.s3?.object;
      if (!object || typeof object.key !== 'string') return record;
      return { ...record, s3: { ...record.s3, object: { ...object, key: encodeEventKey(object.key) } } };
    }),
  };
}
