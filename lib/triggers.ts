import { Aws, RemovalPolicy, type Stack, Validations } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Bucket, EventType, type IBucket } from 'aws-cdk-lib/aws-s3';
import { LambdaDestination } from 'aws-cdk-lib/aws-s3-notifications';
import { ScheduleGroup } from 'aws-cdk-lib/aws-scheduler';
import { Construct } from 'constructs';
import { configVariables } from '../lambdas/config.ts';
import { SluiceFunction } from './handler-function.ts';
import type { TriggerSchedules } from './orchestrator-access.ts';

export interface TriggersProps {
  prefix: string;
  table: ITable;
  bucket: IBucket;
  logRetention: RetentionDays;
  /** The engine's SLUICE_* variables: both functions start executions. */
  environment: Readonly<Record<string, string>>;
}

/**
 * How flows start without an HTTPS call. Cron: one EventBridge Scheduler
 * group holding a schedule per cron trigger (created at run time by the
 * API), all invoking the fire function through a role that may do nothing
 * else. Uploads: the files bucket notifies one function of every created
 * object, which starts the flows whose S3 triggers match.
 */
export class Triggers extends Construct {
  readonly fireFunction: SluiceFunction;
  readonly uploadFunction: SluiceFunction;
  readonly schedules: TriggerSchedules;

  constructor(scope: Construct, id: string, props: TriggersProps) {
    super(scope, id);
    const common = {
      table: props.table,
      bucket: props.bucket,
      logRetention: props.logRetention,
      environment: props.environment,
    };
    this.fireFunction = new SluiceFunction(this, 'Fire', {
      ...common,
      module: 'fire-trigger',
      description: 'Sluice cron triggers: EventBridge Scheduler invokes it to start a scheduled run',
    });
    this.uploadFunction = new SluiceFunction(this, 'Uploads', {
      ...common,
      module: 's3-upload',
      description: 'Sluice S3 triggers: the files bucket notifies it of created objects',
    });
    for (const fn of [this.fireFunction, this.uploadFunction]) {
      fn.grantMetadata(props.table, 'write');
      // Large start contexts go to the bucket (lambdas/core/engine/context-store.ts).
      fn.grantBlobs(props.bucket, 'write');
    }

    const group = new ScheduleGroup(this, 'Group', {
      scheduleGroupName: `${props.prefix}-triggers`,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const schedulerRole = new Role(this, 'SchedulerRole', {
      description: 'Sluice cron triggers: EventBridge Scheduler invoking the fire function',
      // Only schedules of Sluice's group in this account may assume it (confused-deputy guard).
      // EventBridge Scheduler names the schedule group, not the schedule, as the source ARN.
      assumedBy: new ServicePrincipal('scheduler.amazonaws.com', {
        conditions: {
          StringEquals: {
            'aws:SourceAccount': Aws.ACCOUNT_ID,
            'aws:SourceArn': group.scheduleGroupArn,
          },
        },
      }),
    });
    schedulerRole.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['lambda:InvokeFunction'],
        resources: [this.fireFunction.function.functionArn],
      }),
    );
    this.schedules = {
      group,
      schedulerRole,
      environment: {
        [configVariables.scheduleGroup]: group.scheduleGroupName,
        [configVariables.schedulerRoleArn]: schedulerRole.roleArn,
        [configVariables.fireTriggerFunctionArn]: this.fireFunction.function.functionArn,
      },
    };

    // The bucket lives in the storage stack, which must not depend on this one:
    // importing it here puts the notification (a custom resource) in this stack.
    const files = Bucket.fromBucketAttributes(this, 'Files', {
      bucketArn: props.bucket.bucketArn,
      bucketName: props.bucket.bucketName,
    });
    files.addEventNotification(EventType.OBJECT_CREATED, new LambdaDestination(this.uploadFunction.function));
  }
}

/** cdk-nag findings on the bucket-notification custom resource CDK adds, acknowledged with reasons. */
export function acknowledgeNotificationHandler(stack: Stack): void {
  for (const child of stack.node.children) {
    if (!child.node.id.startsWith('BucketNotificationsHandler')) continue;
    Validations.of(child).acknowledge(
      {
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason:
          'CDK’s own bucket-notification handler (a deploy-time custom resource) uses the basic execution ' +
          'role for its logs; it runs only while CloudFormation configures the notification.',
      },
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'CDK’s bucket-notification handler calls s3:PutBucketNotification, which it is granted on * by ' +
          'CDK; it runs only at deploy time and touches only the notification configuration.',
      },
    );
  }
}
