import type { AddressInfo } from 'node:net';
import { createAwsDependencies } from '../lambdas/composition/aws.ts';
import { installDependencies } from '../lambdas/composition/dependencies.ts';
import type { RouteDefinition } from '../lambdas/http/route.ts';
import type { HttpHandler } from '../lambdas/http/route-handler.ts';
import { fallbackRoute, routes } from '../lambdas/routes.ts';
import { createLocalApiGateway } from './api-gateway.ts';
import type { LocalSettings } from './settings.ts';
import { startStandIns } from './stand-ins.ts';

export interface LocalRuntime {
  apiUrl: string;
  s3Endpoint: string;
  dynamodbEndpoint: string;
  stop(): Promise<void>;
}

const handlerModules = new Map<string, Promise<HttpHandler>>();

/** Imports a handler module exactly as Lambda would load its bundle: once, on first use. */
function loadHandler(module: string): Promise<HttpHandler> {
  let loaded = handlerModules.get(module);
  if (!loaded) {
    loaded = import(new URL(`../lambdas/handlers/${module}.ts`, import.meta.url).href).then(
      (exports: { handler: HttpHandler }) => exports.handler,
    );
    handlerModules.set(module, loaded);
  }
  return loaded;
}

/**
 * The local composition root: starts the AWS stand-ins, points the same AWS
 * adapters Lambda uses at them, and serves the route table over HTTP.
 */
export async function startLocalRuntime(settings: LocalSettings): Promise<LocalRuntime> {
  const standIns = await startStandIns({
    dataDir: settings.dataDir,
    dynamodb: settings.dynamodb,
    dynamodbPort: settings.dynamodbPort,
    s3Port: settings.s3Port,
    tableName: settings.tableName,
    bucketName: settings.bucketName,
  });
  // The SDK's default credential chain reads these, as it reads the role's in Lambda.
  process.env.AWS_ACCESS_KEY_ID = standIns.credentials.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = standIns.credentials.secretAccessKey;
  installDependencies(() =>
    createAwsDependencies({
      tableName: settings.tableName,
      bucketName: settings.bucketName,
      region: process.env.AWS_REGION ?? 'us-east-1',
      dynamodbEndpoint: standIns.dynamodbEndpoint,
      s3Endpoint: standIns.s3Endpoint,
    }),
  );
  const server = createLocalApiGateway({
    routes: routes as readonly RouteDefinition[],
    fallback: fallbackRoute,
    loadHandler,
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(settings.port, settings.host, () => resolve());
    });
  } catch (error) {
    await standIns.stop();
    throw error;
  }
  const { port } = server.address() as AddressInfo;
  return {
    apiUrl: `http://${settings.host}:${port}`,
    s3Endpoint: standIns.s3Endpoint,
    dynamodbEndpoint: standIns.dynamodbEndpoint,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await standIns.stop();
    },
  };
}
