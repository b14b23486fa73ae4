import { readSettings } from './settings.ts';

// Handlers log through Powertools; indented JSON is easier to read in a terminal.
// Set before the runtime (and so the logger) is imported.
process.env.POWERTOOLS_DEV ??= 'true';
const { startLocalRuntime } = await import('./runtime.ts');

const settings = readSettings();
const runtime = await startLocalRuntime(settings);

console.log(`Sluice is running (${settings.dataDir ? `data in ${settings.dataDir}` : 'in memory'}, ${settings.dynamodb})
  API         ${runtime.apiUrl}
  Health      ${runtime.apiUrl}/health
  OpenAPI     ${runtime.apiUrl}/openapi.json
  Swagger UI  ${runtime.apiUrl}/swagger-ui.html
  S3          ${runtime.s3Endpoint}  (path-style; access key S3RVER, secret S3RVER; bucket ${settings.bucketName})
  DynamoDB    ${runtime.dynamodbEndpoint}  (table ${settings.tableName})
Press Ctrl-C to stop.`);

let stopping = false;
const shutdown = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  console.log(`\n${signal}: stopping Sluice…`);
  await runtime.stop();
  process.exit(0);
};
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
