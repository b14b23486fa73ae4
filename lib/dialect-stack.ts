import { Stack, type StackProps } from 'aws-cdk-lib';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import type { Dialect } from '../lambdas/http/route.ts';
import { HandlerFunction } from './handler-function.ts';
import type { Engine } from './orchestrator-access.ts';
import { guardResourceBudget } from './resource-budget.ts';
import { type HandlerPlan, pascalCase } from './route-plan.ts';

export interface DialectStackProps extends StackProps {
  dialect: Dialect;
  handlers: readonly HandlerPlan[];
  httpApi: HttpApi;
  table: ITable;
  bucket: IBucket;
  logRetention: RetentionDays;
  /** The flow engine, for functions whose routes deploy or run flows. */
  engine: Engine;
}

/**
 * The functions, integrations and routes of one dialect, attached to the
 * shared HTTP API. One stack per dialect keeps every stack far below
 * CloudFormation's 500-resource limit as the route table grows.
 */
export class DialectStack extends Stack {
  readonly dialect: Dialect;
  readonly handlers = new Map<string, HandlerFunction>();

  constructor(scope: Construct, id: string, props: DialectStackProps) {
    super(scope, id, props);
    this.dialect = props.dialect;
    for (const plan of props.handlers) {
      this.handlers.set(
        plan.module,
        new HandlerFunction(this, pascalCase(plan.module), {
          plan,
          httpApi: props.httpApi,
          table: props.table,
          bucket: props.bucket,
          logRetention: props.logRetention,
          engine: props.engine,
        }),
      );
    }
    guardResourceBudget(this);
  }
}
