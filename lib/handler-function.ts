import { join } from 'node:path';
import { Duration, Validations } from 'aws-cdk-lib';
import { type HttpApi, HttpMethod, HttpRoute, HttpRouteKey } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import {
  type ICommandHooks,
  NodejsFunction,
  OutputFormat,
  SourceMapMode,
} from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { configVariables } from '../lambdas/config.ts';
import { type RouteDefinition, routeKeysOf } from '../lambdas/http/route.ts';
import { acknowledgeWildcardResource } from './nag.ts';
import { type Engine, grantOrchestrator, grantScheduleManagement } from './orchestrator-access.ts';
import type { HandlerPlan } from './route-plan.ts';

const projectRoot = join(import.meta.dirname, '..');

/** Settings every Sluice function shares. */
export const functionDefaults = {
  runtime: Runtime.NODEJS_24_X,
  architecture: Architecture.ARM_64,
  memorySize: 512,
  // Below the HTTP API integration timeout (29 s), so a slow invocation ends
  // (and logs why) before API Gateway answers 503 on its behalf.
  timeout: Duration.seconds(28),
} as const;

/**
 * S3 actions per access level, matched to the BlobStore port's operations
 * (lambdas/adapters/aws/s3-blob-store.ts): get/presignGet → GetObject,
 * list/ping (ListObjectsV2, HeadBucket) → ListBucket (which also turns a
 * missing key into 404 instead of 403), put/presignPut → PutObject,
 * delete → DeleteObject. Spelled out instead of bucket.grantRead(), whose
 * `s3:GetObject*`/`s3:List*`/`s3:GetBucket*` wildcards grant far more.
 */
export const blobActions = {
  read: ['s3:GetObject', 's3:ListBucket'],
  write: ['s3:GetObject', 's3:ListBucket', 's3:PutObject', 's3:DeleteObject'],
} as const;

/**
 * DynamoDB actions per access level, matched to the MetadataStore port
 * (lambdas/adapters/aws/dynamodb-metadata-store.ts): get/ping → GetItem,
 * listPartition/listCollection → Query, create/update/delete/nextSequence →
 * PutItem/UpdateItem/DeleteItem. Spelled out instead of table.grantReadData(),
 * which also grants Scan — and no request path may scan.
 */
export const metadataActions = {
  read: ['dynamodb:GetItem', 'dynamodb:Query'],
  write: [
    'dynamodb:GetItem',
    'dynamodb:Query',
    'dynamodb:PutItem',
    'dynamodb:UpdateItem',
    'dynamodb:DeleteItem',
  ],
} as const;

/**
 * Files a handler reads at run time from beside its bundle, copied there
 * after esbuild: handler module → package folder, files, target folder. The
 * swagger-ui list must equal the `swaggerAssets` the handler serves (a test
 * checks it; importing the handler here would load its runtime into the CDK app).
 */
export const bundledFiles: Readonly<Record<string, { from: string; files: readonly string[]; to: string }>> =
  {
    'swagger-ui': {
      from: 'node_modules/swagger-ui-dist',
      files: ['swagger-ui.css', 'swagger-ui-bundle.js', 'swagger-ui-standalone-preset.js'],
      to: 'swagger-ui',
    },
  };

export function commandHooks(module: string): ICommandHooks | undefined {
  const extra = bundledFiles[module];
  if (!extra) return undefined;
  return {
    beforeBundling: () => [],
    beforeInstall: () => [],
    afterBundling: (inputDir: string, outputDir: string) => [
      `mkdir -p "${outputDir}/${extra.to}"`,
      ...extra.files.map(
        (file) => `cp "${inputDir}/${extra.from}/${file}" "${outputDir}/${extra.to}/${file}"`,
      ),
    ],
  };
}

/** The API Gateway route key of one path of a route (`$default` for the fallback route). */
function routeKey(route: RouteDefinition, path: string): HttpRouteKey {
  return path === HttpRouteKey.DEFAULT.key
    ? HttpRouteKey.DEFAULT
    : HttpRouteKey.with(path, HttpMethod[route.method]);
}

/** Construct id of a route key; `/` separates construct paths, so it is replaced. */
const routeId = (key: string): string => key.replaceAll('/', '_');

export interface SluiceFunctionProps {
  /** Module under lambdas/handlers (without extension): the function's entry. */
  module: string;
  description: string;
  table: ITable;
  bucket: IBucket;
  logRetention: RetentionDays;
  /** Variables beyond the table, bucket and runtime ones every function gets. */
  environment?: Readonly<Record<string, string>>;
  /** A fixed name, for functions other resources name (e.g. the task runner). */
  functionName?: string;
  timeout?: Duration;
}

/**
 * One Sluice Lambda function as every one is deployed: bundled by esbuild
 * from its handler module, with a dedicated role and log group, and grant
 * helpers that give the role exactly the actions the ports use.
 */
export class SluiceFunction extends Construct {
  readonly function: NodejsFunction;
  readonly role: Role;

  constructor(scope: Construct, id: string, props: SluiceFunctionProps) {
    super(scope, id);
    const logGroup = new LogGroup(this, 'Logs', { retention: props.logRetention });
    // A role of its own instead of the default one, whose managed
    // AWSLambdaBasicExecutionRole may write to every log group of the account.
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Sluice ${props.module} function`,
    });
    logGroup.grantWrite(this.role);

    const bundlingHooks = commandHooks(props.module);
    this.function = new NodejsFunction(this, 'Function', {
      ...functionDefaults,
      ...(props.timeout ? { timeout: props.timeout } : {}),
      ...(props.functionName ? { functionName: props.functionName } : {}),
      entry: join(projectRoot, 'lambdas', 'handlers', `${props.module}.ts`),
      handler: 'handler',
      projectRoot,
      depsLockFilePath: join(projectRoot, 'package-lock.json'),
      role: this.role,
      logGroup,
      description: props.description.slice(0, 256),
      environment: {
        [configVariables.tableName]: props.table.tableName,
        [configVariables.bucketName]: props.bucket.bucketName,
        ...props.environment,
        POWERTOOLS_SERVICE_NAME: 'sluice',
        NODE_OPTIONS: '--enable-source-maps',
      },
      bundling: {
        format: OutputFormat.ESM,
        mainFields: ['module', 'main'],
        // Some CommonJS dependencies call require(); ESM has none, so give them one.
        banner:
          "import { createRequire as __sluiceCreateRequire } from 'node:module'; " +
          'const require = __sluiceCreateRequire(import.meta.url);',
        minify: true,
        // Class and function names survive minification: error names and stack traces stay readable.
        keepNames: true,
        sourceMap: true,
        sourceMapMode: SourceMapMode.DEFAULT,
        sourcesContent: false,
        // Bundle the pinned AWS SDK v3 instead of the runtime's: the code
        // that runs in Lambda is the code the local tests ran.
        externalModules: [],
        ...(bundlingHooks ? { commandHooks: bundlingHooks } : {}),
      },
    });
  }

  /**
   * For functions AWS invokes asynchronously (schedules, bucket
   * notifications, EventBridge rules): Lambda retries a failed event twice,
   * then hands it to `failures` instead of dropping it.
   */
  keepFailedEvents(failures: IQueue): void {
    this.function.configureAsyncInvoke({
      retryAttempts: 2,
      maxEventAge: Duration.hours(6),
      onFailure: new SqsDestination(failures),
    });
  }

  /** The MetadataStore port's actions at `level` on the table and its indexes. */
  grantMetadata(table: ITable, level: 'read' | 'write'): void {
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: [...metadataActions[level]],
        resources: [table.tableArn, `${table.tableArn}/index/*`],
      }),
    );
    acknowledgeWildcardResource(this.role, `${table.tableArn}/index/*`, {
      reason:
        'The grant covers the table and its secondary indexes (gsi1 serves collection listings); ' +
        "index/* is that one table's indexes, nothing else.",
    });
  }

  /** The BlobStore port's actions at `level` on the files bucket and its objects. */
  grantBlobs(bucket: IBucket, level: 'read' | 'write'): void {
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: [...blobActions[level]],
        resources: [bucket.bucketArn, bucket.arnForObjects('*')],
      }),
    );
    acknowledgeWildcardResource(this.role, bucket.arnForObjects('*'), {
      reason:
        'Object keys are made at run time (per flow, execution and file), so object actions apply ' +
        'to every object of the one files bucket; the actions themselves carry no wildcard.',
    });
  }
}

export interface HandlerFunctionProps {
  plan: HandlerPlan;
  httpApi: HttpApi;
  table: ITable;
  bucket: IBucket;
  logRetention: RetentionDays;
  /** The flow engine; required when a route of the plan has `orchestrator` access. */
  engine?: Engine;
}

/**
 * One handler module as deployed: its function (with a dedicated role and
 * log group), the grants its routes' `access` asks for and nothing more, one
 * integration, and one route (with a route-scoped invoke permission) per route key.
 */
export class HandlerFunction extends SluiceFunction {
  readonly routes: HttpRoute[] = [];

  constructor(scope: Construct, id: string, props: HandlerFunctionProps) {
    const { plan, httpApi, table, bucket, engine } = props;
    const keys = plan.routes.flatMap(routeKeysOf);
    const orchestrator = plan.access.orchestrator ?? [];
    if ((orchestrator.length > 0 || plan.access.schedules) && !engine) {
      throw new Error(
        `Handler module ${plan.module} needs the flow engine (orchestrator or schedule access) but none was given`,
      );
    }
    super(scope, id, {
      module: plan.module,
      description: `Sluice ${plan.dialect}/${plan.module}: ${keys.join(', ')}`,
      table,
      bucket,
      logRetention: props.logRetention,
      environment: {
        // Where the API answers: dialects hand it to executors as their callback URL.
        [configVariables.publicUrl]: httpApi.apiEndpoint,
        // Functions that deploy or run flows build the engine, which needs to know where flows run.
        ...(orchestrator.length > 0 && engine ? engine.environment : {}),
        // Functions that manage triggers create the schedules of cron triggers.
        ...(plan.access.schedules && engine ? engine.schedules.environment : {}),
      },
    });

    const { metadata, blobs } = plan.access;
    if (metadata) this.grantMetadata(table, metadata);
    if (blobs) this.grantBlobs(bucket, blobs);
    if (engine) for (const capability of orchestrator) grantOrchestrator(this.role, engine, capability);
    if (engine && plan.access.schedules) grantScheduleManagement(this.role, engine.schedules);

    const integration = new HttpLambdaIntegration('Integration', this.function);
    for (const route of plan.routes) {
      for (const path of [route.path, ...(route.aliases ?? [])]) {
        const key = routeKey(route, path);
        this.routes.push(new HttpRoute(this, routeId(key.key), { httpApi, routeKey: key, integration }));
      }
    }
    for (const route of this.routes) {
      Validations.of(route).acknowledge({
        id: 'AwsSolutions-APIG4',
        reason:
          'Sluice serves five documented client APIs whose clients send no credentials, so no route ' +
          "can demand any; putting an authorizer (JWT, IAM or Lambda) in front is the deployer's choice.",
      });
    }
  }
}
