import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  CorsHttpMethod,
  type CorsPreflightOptions,
  HttpApi,
  HttpStage,
  LogGroupLogDestination,
} from 'aws-cdk-lib/aws-apigatewayv2';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { HandlerFunction } from './handler-function.ts';
import type { Engine } from './orchestrator-access.ts';
import { guardResourceBudget } from './resource-budget.ts';
import { type HandlerPlan, pascalCase } from './route-plan.ts';

/**
 * One JSON object per request. HTTP API context variables:
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-logging-variables.html
 */
export const accessLogFields = {
  requestId: '$context.requestId',
  requestTime: '$context.requestTime',
  ip: '$context.identity.sourceIp',
  userAgent: '$context.identity.userAgent',
  httpMethod: '$context.httpMethod',
  path: '$context.path',
  protocol: '$context.protocol',
  routeKey: '$context.routeKey',
  status: '$context.status',
  responseLength: '$context.responseLength',
  responseLatency: '$context.responseLatency',
  integrationStatus: '$context.integrationStatus',
  integrationLatency: '$context.integrationLatency',
  integrationError: '$context.integrationErrorMessage',
  error: '$context.error.message',
} as const;

export interface ApiStackProps extends StackProps {
  table: ITable;
  bucket: IBucket;
  /** The function of the route table's fallback route, bound to `$default`. */
  fallback: HandlerPlan;
  logRetention: RetentionDays;
  /** The flow engine, for functions whose routes deploy or run flows. */
  engine: Engine;
  /** Browser origins allowed by CORS; none (CORS off) by default. */
  corsAllowOrigins?: readonly string[];
  /** Stage-wide steady-state requests per second and burst. */
  throttle: { rateLimit: number; burstLimit: number };
}

/**
 * The HTTP API shared by every dialect stack: its `$default` stage with
 * access logs and throttling, and the `$default` route (no route matched).
 */
export class ApiStack extends Stack {
  readonly httpApi: HttpApi;
  readonly stage: HttpStage;
  readonly fallback: HandlerFunction;

  constructor(scope: Construct, id: string, props: ApiStackProps) {
    super(scope, id, props);

    this.httpApi = new HttpApi(this, 'HttpApi', {
      description: 'Sluice: the five flow API dialects and the native API',
      // The stage is declared below, with access logs.
      createDefaultStage: false,
      ...(props.corsAllowOrigins?.length ? { corsPreflight: corsFor(props.corsAllowOrigins) } : {}),
    });

    const accessLogs = new LogGroup(this, 'AccessLogs', { retention: props.logRetention });
    this.stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.httpApi,
      // No stageName: `$default`, served at the root of the API URL.
      // Routes live in the dialect stacks; auto-deploy publishes their changes.
      autoDeploy: true,
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogs),
        format: AccessLogFormat.custom(JSON.stringify(accessLogFields)),
      },
      throttle: props.throttle,
    });

    this.fallback = new HandlerFunction(this, pascalCase(props.fallback.module), {
      plan: props.fallback,
      httpApi: this.httpApi,
      table: props.table,
      bucket: props.bucket,
      logRetention: props.logRetention,
      engine: props.engine,
    });

    new CfnOutput(this, 'ApiUrl', { value: this.stage.url, description: 'Base URL of the Sluice HTTP API' });
    guardResourceBudget(this);
  }
}

function corsFor(origins: readonly string[]): CorsPreflightOptions {
  return {
    allowOrigins: [...origins],
    allowMethods: [CorsHttpMethod.ANY],
    allowHeaders: ['content-type', 'authorization'],
    maxAge: Duration.hours(1),
  };
}
