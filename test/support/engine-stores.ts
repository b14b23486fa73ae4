import { standInClients, startStandIns } from '../../dev-server/stand-ins.ts';
import { DynamoDbMetadataStore } from '../../lambdas/adapters/aws/dynamodb-metadata-store.ts';
import { S3BlobStore } from '../../lambdas/adapters/aws/s3-blob-store.ts';
import { ContextStore } from '../../lambdas/core/engine/context-store.ts';
import { EngineRecords } from '../../lambdas/core/engine/records.ts';

/** The engine's records and contexts on real, in-memory stand-ins (dynalite, s3rver) for one test file. */
export async function startEngineStores(name: string) {
  const standIns = await startStandIns({
    dataDir: undefined,
    dynamodb: 'dynalite',
    tableName: name,
    bucketName: `${name}-files`,
  });
  const clients = standInClients(standIns);
  const records = new EngineRecords(new DynamoDbMetadataStore(clients.documents, name));
  const contexts = new ContextStore(records, new S3BlobStore(clients.s3, `${name}-files`));
  return {
    records,
    contexts,
    stop: async () => {
      clients.destroy();
      await standIns.stop();
    },
  };
}
