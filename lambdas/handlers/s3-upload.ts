import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { dependencies } from '../composition/dependencies.ts';
import type { UploadedObject } from '../core/triggers/service.ts';
import { logger } from '../http/logger.ts';

/** An S3 event notification, as far as Sluice reads it. */
const s3Notification = z.object({
  Records: z
    .array(
      z.object({
        eventName: z.string(),
        eventTime: z.string(),
        s3: z.object({
          bucket: z.object({ name: z.string() }),
          object: z.object({
            key: z.string(),
            size: z.number().int().min(0).default(0),
            eTag: z.string().default(''),
            sequencer: z.string().default(''),
          }),
        }),
      }),
    )
    // S3's s3:TestEvent (sent when a notification is configured) has no records.
    .default([]),
});

/**
 * S3 URL-encodes object keys in event notifications, with spaces as `+`
 * (a literal `+` arrives as `%2B`).
 */
export const decodeEventKey = (key: string): string => decodeURIComponent(key.replace(/\+/g, ' '));

/**
 * The files bucket's object-created notifications: starts the flows whose S3
 * triggers match each new object. On AWS the bucket notifies this function;
 * locally the S3 stand-in's events arrive here in the same shape.
 */
export const handler = middy<unknown, { started: string[] }, Error, Context>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .handler(async (event) => {
    const { Records } = s3Notification.parse(event);
    const objects: UploadedObject[] = Records.filter((record) =>
      record.eventName.startsWith('ObjectCreated:'),
    ).map((record) => ({
      bucket: record.s3.bucket.name,
      key: decodeEventKey(record.s3.object.key),
      size: record.s3.object.size,
      etag: record.s3.object.eTag,
      sequencer: record.s3.object.sequencer,
      eventTime: record.eventTime,
    }));
    const started = await dependencies().engine.triggers.objectsCreated(objects);
    if (started.length > 0) logger.info('Uploads started executions', { executions: started });
    return { started };
  });
