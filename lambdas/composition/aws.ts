import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { compileFlow } from '../../statemachines/compile.ts';
import { DynamoDbMetadataStore } from '../adapters/aws/dynamodb-metadata-store.ts';
import { EventBridgeScheduler } from '../adapters/aws/eventbridge-scheduler.ts';
import { S3BlobStore } from '../adapters/aws/s3-blob-store.ts';
import { SfnOrchestrator } from '../adapters/aws/sfn-orchestrator.ts';
import { FetchHttpCaller } from '../adapters/fetch-http-caller.ts';
import { type EngineConfig, loadConfig, type ScheduleConfig, type SluiceConfig } from '../config.ts';
import type { EnosService } from '../core/dialects/enos/service.ts';
import type { RillFlowService } from '../core/dialects/rill-flow/service.ts';
import type { Orchestrator } from '../ports/orchestrator.ts';
import type { Scheduler } from '../ports/scheduler.ts';
import type { Dependencies } from './dependencies.ts';
import { createEnos, createRillFlow } from './dialects.ts';
import { createEngine, type Engine } from './engine.ts';

/**
 * The AWS composition root: real SDK clients. Locally the same stores run
 * with their endpoints pointed at the stand-ins, so the SDK code path is the
 * one that runs in Lambda.
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
  const store = new DynamoDbMetadataStore(documents, config.tableName);
  const blobs = new S3BlobStore(s3, config.bucketName);
  // Built on first use. The dialects come with the engine, so their completion
  // hooks run wherever an execution's end is recorded.
  let built: { engine: Engine; rillFlow: RillFlowService; enos: EnosService } | undefined;
  const flowsOnFirstUse = () => {
    if (built) return built;
    const engine = createEngine({
      store,
      blobs,
      orchestrator: stepFunctionsOnFirstUse(config),
      scheduler: eventBridgeScheduler(config.region, config.schedules),
      http: new FetchHttpCaller(),
      compile: (descriptor) => compileFlow(descriptor, compileOptions(requireEngine(config.engine))),
    });
    const rillFlow = createRillFlow(store, engine, () => {
      if (!config.publicUrl) throw new Error('SLUICE_PUBLIC_URL is not set for this function');
      return config.publicUrl;
    });
    built = { engine, rillFlow, enos: createEnos(store, engine) };
    return built;
  };
  return {
    store,
    blobs,
    get engine() {
      return flowsOnFirstUse().engine;
    },
    get rillFlow() {
      return flowsOnFirstUse().rillFlow;
    },
    get enos() {
      return flowsOnFirstUse().enos;
    },
  };
}

function requireEngine(engine: EngineConfig | undefined): EngineConfig {
  if (!engine)
    throw new Error(
      'This function has no flow-engine settings (SLUICE_TASK_RUNNER_FUNCTION, SLUICE_STATES_ROLE_ARN)',
    );
  return engine;
}

/** Only functions that manage triggers get the schedule settings; elsewhere using the scheduler is a bug. */
function eventBridgeScheduler(region: string, schedules: ScheduleConfig | undefined): Scheduler {
  if (schedules) {
    return new EventBridgeScheduler({ client: new SchedulerClient({ region }), ...schedules });
  }
  const missing = async (): Promise<never> => {
    throw new Error(
      'This function has no schedule settings (SLUICE_SCHEDULE_GROUP, SLUICE_SCHEDULER_ROLE_ARN, SLUICE_FIRE_TRIGGER_FUNCTION_ARN)',
    );
  };
  return { put: missing, remove: missing };
}

/**
 * Reading flows, executions and triggers needs no Step Functions settings:
 * only functions that deploy or run flows get them, so the client is built
 * (and the settings required) on the first orchestrator call.
 */
function stepFunctionsOnFirstUse(config: SluiceConfig): Orchestrator {
  let built: SfnOrchestrator | undefined;
  const sfn = () => {
    built ??= stepFunctions(config.region, requireEngine(config.engine));
    return built;
  };
  return {
    deploy: (name, definition) => sfn().deploy(name, definition),
    start: (stateMachine, executionId) => sfn().start(stateMachine, executionId),
    stop: (stateMachine, executionId, cause) => sfn().stop(stateMachine, executionId, cause),
    redrive: (stateMachine, executionId) => sfn().redrive(stateMachine, executionId),
    sendTaskSuccess: (token, output) => sfn().sendTaskSuccess(token, output),
    sendTaskFailure: (token, error, cause) => sfn().sendTaskFailure(token, error, cause),
    sendTaskHeartbeat: (token) => sfn().sendTaskHeartbeat(token),
  };
}

function stepFunctions(region: string, engine: EngineConfig): SfnOrchestrator {
  return new SfnOrchestrator({
    client: new SFNClient({ region }),
    roleArn: engine.statesRoleArn,
    ...(engine.statesLogGroupArn
      ? {
          loggingConfiguration: {
            level: 'ERROR',
            includeExecutionData: false,
            destinations: [{ cloudWatchLogsLogGroup: { logGroupArn: `${engine.statesLogGroupArn}:*` } }],
          },
        }
      : {}),
  });
}

function compileOptions(engine: EngineConfig) {
  return {
    runnerFunction: engine.taskRunnerFunction,
    ...(engine.ecsCluster ? { ecsCluster: engine.ecsCluster } : {}),
    ...(engine.ecsTaskDefinition ? { ecsTaskDefinition: engine.ecsTaskDefinition } : {}),
    ...(engine.ecsSubnets.length
      ? { ecsSubnets: engine.ecsSubnets, ecsAssignPublicIp: engine.ecsAssignPublicIp }
      : {}),
    ...(engine.ecsSecurityGroup ? { ecsSecurityGroups: [engine.ecsSecurityGroup] } : {}),
  };
}
