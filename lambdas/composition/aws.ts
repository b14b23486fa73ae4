import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDbMetadataStore } from '../adapters/aws/dynamodb-metadata-store.ts';
import { S3BlobStore } from '../adapters/aws/s3-blob-store.ts';
import { loadConfig, type SluiceConfig } from '../config.ts';
import type { Dependencies } from './dependencies.ts';

/**
 * The AWS composition root: real SDK clients. Locally the same root runs with
 * the endpoints pointed at the stand-ins, so the SDK code path is the one
 * that runs in Lambda.
 */
export function createAwsDependencies(config: SluiceConfig = loadConfig()): Dependencies {
  const dynamodb = new DynamoDBClient({
    region: config.region,
    ...(config.dynamodbEndpoint ? { endpoint: config.dynamodbEndpoint } : {}),
  });
  const documents = DynamoDBDocumentClient.from(dynamodb, {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: true },
  });
  const s3 = new S3Client({
    region: config.region,
    ...(config.s3Endpoint ? { endpoint: config.s3Endpoint, forcePathStyle: true } : {}),
  });
  return {
    store: new DynamoDbMetadataStore(documents, config.tableName),
    blobs: new S3BlobStore(s3, config.bucketName),
  };
}
