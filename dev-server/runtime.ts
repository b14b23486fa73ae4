import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { DynamoDbMetadataStore } from '../lambdas/adapters/aws/dynamodb-metadata-store.ts';
import { S3BlobStore } from '../lambdas/adapters/aws/s3-blob-store.ts';
import { FetchHttpCaller } from '../lambdas/adapters/fetch-http-caller.ts';
import { LocalOrchestrator } from '../lambdas/adapters/local/local-orchestrator.ts';
import { installDependencies } from '../lambdas/composition/dependencies.ts';
import { createRillFlow } from '../lambdas/composition/dialects.ts';
import { createEngine, type Engine } from '../lambdas/composition/engine.ts';
import { logFault } from '../lambdas/http/logger.ts';
import type { RouteDefinition } from '../lambdas/http/route.ts';
import type { HttpHandler } from '../lambdas/http/route-handler.ts';
import { fallbackRoute, routes } from '../lambdas/routes.ts';
import { compileFlow } from '../statemachines/compile.ts';
import { createLocalApiGateway } from './api-gateway.ts';
import type { LocalSettings } from './settings.ts';
import { standInClients, startStandIns } from './stand-ins.ts';

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
  const clients = standInClients(standIns);
  const store = new DynamoDbMetadataStore(clients.documents, settings.tableName);
  const blobs = new S3BlobStore(clients.s3, settings.bucketName);
  // The runner and the orchestrator call each other; the engine is built right after both.
  let engine: Engine | undefined;
  const running = (): Engine => {
    if (!engine) throw new Error('engine not ready');
    return engine;
  };
  const orchestrator = new LocalOrchestrator({
    invokeRunner: (payload) => running().runner.handle(payload),
    onExecutionEnded: (executionId, outcome) =>
      running()
        .executions.ended(executionId, outcome)
        .then(() => undefined),
    ...(settings.dataDir ? { definitionsDir: join(settings.dataDir, 'state-machines') } : {}),
    log: (event) => {
      if (event.type === 'command-output') {
        const task = event.state.replace(/:container$/, '');
        void running()
          .executions.recordOutput(event.executionId, task, event.stream, event.line)
          .catch((error: unknown) => logFault('Could not record command output', error));
      } else {
        logFault(event.message, event.error ?? event.message);
      }
    },
  });
  engine = createEngine({
    store,
    blobs,
    orchestrator,
    http: new FetchHttpCaller(),
    // Locally the runner is called in-process and commands run as child processes: these names
    // only label the states (without them the compiler refuses command tasks, as on AWS).
    compile: (descriptor) =>
      compileFlow(descriptor, {
        runnerFunction: 'sluice-task-runner',
        ...(settings.commandTasks ? { ecsCluster: 'local', ecsTaskDefinition: 'sluice-command' } : {}),
      }),
  });
  // Executors call back the API this server serves; its address is known once it listens.
  let apiUrl = '';
  installDependencies({ store, blobs, engine, rillFlow: createRillFlow(store, engine, () => apiUrl) });
  // Executions the last run of this server left running: resume each or end it FAILED.
  const flows = engine.flows;
  await engine.executions.resumeAfterRestart((flowId, version) => flows.redeploy(flowId, version));
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
  apiUrl = `http://${settings.host}:${port}`;
  return {
    apiUrl,
    s3Endpoint: standIns.s3Endpoint,
    dynamodbEndpoint: standIns.dynamodbEndpoint,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await orchestrator.shutdown();
      clients.destroy();
      await standIns.stop();
    },
  };
}
