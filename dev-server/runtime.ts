import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { DynamoDbMetadataStore } from '../lambdas/adapters/aws/dynamodb-metadata-store.ts';
import { S3BlobStore } from '../lambdas/adapters/aws/s3-blob-store.ts';
import { FetchHttpCaller } from '../lambdas/adapters/fetch-http-caller.ts';
import { LocalOrchestrator } from '../lambdas/adapters/local/local-orchestrator.ts';
import { LocalScheduler } from '../lambdas/adapters/local/local-scheduler.ts';
import { installDependencies } from '../lambdas/composition/dependencies.ts';
import { createEnos, createRillFlow } from '../lambdas/composition/dialects.ts';
import { createEngine, type Engine } from '../lambdas/composition/engine.ts';
import { logFault } from '../lambdas/http/logger.ts';
import type { RouteDefinition } from '../lambdas/http/route.ts';
import type { HttpEvent, HttpResponse } from '../lambdas/http/route-handler.ts';
import { fallbackRoute, routes } from '../lambdas/routes.ts';
import { compileFlow } from '../statemachines/compile.ts';
import { createLocalApiGateway } from './api-gateway.ts';
import { lambdaContext, loadFunction } from './functions.ts';
import { toS3Notification } from './s3-notifications.ts';
import type { LocalSettings } from './settings.ts';
import { standInClients, startStandIns } from './stand-ins.ts';

export interface LocalRuntime {
  apiUrl: string;
  s3Endpoint: string;
  dynamodbEndpoint: string;
  stop(): Promise<void>;
}

/** Invokes a non-HTTP function (an event source's target) as Lambda would. */
async function invoke(module: string, event: unknown): Promise<void> {
  const handler = await loadFunction(module);
  await handler(event, lambdaContext(module, randomUUID(), 900_000));
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
  // EventBridge Scheduler's stand-in: fires the function AWS's schedules invoke, with their event.
  const scheduler = new LocalScheduler({
    deliver: (event) => invoke('fire-trigger', event),
    onError: (event, error) => logFault(`Cron trigger ${event.triggerId} could not start a run`, error),
  });
  engine = createEngine({
    store,
    blobs,
    orchestrator,
    scheduler,
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
  installDependencies({
    store,
    blobs,
    engine,
    rillFlow: createRillFlow(store, engine, () => apiUrl),
    enos: createEnos(store, engine),
  });
  // Executions the last run of this server left running: resume each or end it FAILED.
  const flows = engine.flows;
  await engine.executions.resumeAfterRestart((flowId, version) => flows.redeploy(flowId, version));
  // The files bucket notifies the function its AWS notification invokes.
  standIns.onS3Event((event) => {
    void invoke('s3-upload', toS3Notification(event)).catch((error: unknown) =>
      logFault('An upload could not start its triggers', error),
    );
  });
  const server = createLocalApiGateway({
    routes: routes as readonly RouteDefinition[],
    fallback: fallbackRoute,
    loadHandler: (module) => loadFunction<HttpEvent, HttpResponse>(module),
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
  const restored = await engine.triggers.restoreSchedules({ catchUp: settings.scheduleCatchUp });
  for (const failure of restored.failures) {
    logFault(`Cron trigger ${failure.triggerId} could not be restored or caught up`, failure.error);
  }
  return {
    apiUrl,
    s3Endpoint: standIns.s3Endpoint,
    dynamodbEndpoint: standIns.dynamodbEndpoint,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await scheduler.stop();
      await orchestrator.shutdown();
      clients.destroy();
      await standIns.stop();
    },
  };
}
