import { ArnFormat, Aws, CfnOutput, Duration, Fn, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import {
  FlowLogDestination,
  FlowLogTrafficType,
  type IVpc,
  SecurityGroup,
  type SubnetSelection,
  SubnetType,
  Vpc,
} from 'aws-cdk-lib/aws-ec2';
import {
  Cluster,
  ContainerImage,
  ContainerInsights,
  CpuArchitecture,
  FargateTaskDefinition,
  LogDrivers,
  OperatingSystemFamily,
} from 'aws-cdk-lib/aws-ecs';
import { Rule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { configVariables } from '../lambdas/config.ts';
import { SluiceFunction } from './handler-function.ts';
import { acknowledgeWildcardResource } from './nag.ts';
import {
  acknowledgeFlowWildcard,
  type Engine,
  flowArns,
  grantOrchestrator,
  grantTaskTokens,
} from './orchestrator-access.ts';
import { guardResourceBudget } from './resource-budget.ts';
import { acknowledgeNotificationHandler, Triggers } from './triggers.ts';

/** Command tasks (descriptor kind `command`): off unless the deployment turns them on. */
export interface CommandTaskOptions {
  /** Container image the commands run in. Context `sluice:commandImage`. */
  image: string;
  /** An existing VPC to run them in instead of a new one. Context `sluice:vpcId` (needs an account and region). */
  vpcId?: string;
}

export interface EngineStackProps extends StackProps {
  /** Deployment prefix; names the task runner function `<prefix>-engine-task-runner`. */
  prefix: string;
  table: ITable;
  bucket: IBucket;
  logRetention: RetentionDays;
  /** Lambda functions a flow's `lambda` tasks may invoke: names starting with this. */
  lambdaTaskPrefix: string;
  /** Absent: no ECS resources at all, and the engine refuses command tasks. */
  commandTasks?: CommandTaskOptions;
}

/** Step Functions' managed rules behind `.sync` integrations (created on first use, in the account). */
const syncRules = {
  ecsTask: 'StepFunctionsGetEventsForECSTaskRule',
  execution: 'StepFunctionsGetEventsForStepFunctionsExecutionRule',
} as const;

/** What a Step Functions `.sync` integration does with its managed rule. */
const syncRuleActions = ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'];

/**
 * Step Functions' vended log delivery (the state machines' LoggingConfiguration):
 * the execution role needs these, and none of them supports resource-level
 * permissions (https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html).
 */
export const logDeliveryActions = [
  'logs:CreateLogDelivery',
  'logs:GetLogDelivery',
  'logs:UpdateLogDelivery',
  'logs:DeleteLogDelivery',
  'logs:ListLogDeliveries',
  'logs:PutResourcePolicy',
  'logs:DescribeResourcePolicies',
  'logs:DescribeLogGroups',
];

/** The one container of the command task definition; state machines override its command per task. */
export const commandContainerName = 'command';

/**
 * The flow engine's fixed part. Flows themselves compile to state machines
 * the API creates at run time (one per flow version); this stack holds what
 * they all share: the task runner every Task state invokes, the role their
 * executions assume, their log group, the rule that records how executions
 * end, the triggers (cron schedules and upload notifications), and (when
 * enabled) the isolated Fargate setup command tasks run in.
 */
export class EngineStack extends Stack {
  readonly taskRunner: SluiceFunction['function'];
  readonly taskRunnerFunction: SluiceFunction;
  readonly executionEvents: SluiceFunction;
  readonly executionEnded: Rule;
  readonly statesRole: Role;
  readonly statesLogGroup: LogGroup;
  readonly commands: CommandTasks | undefined;
  readonly triggers: Triggers;
  /** Events the asynchronously invoked functions failed to handle after Lambda's retries. */
  readonly failedEvents: Queue;
  /** What the API functions are given (lib/orchestrator-access.ts). */
  readonly engine: Engine;

  constructor(scope: Construct, id: string, props: EngineStackProps) {
    super(scope, id, props);
    const arns = flowArns(this);
    const taskRunnerName = `${props.prefix}-engine-task-runner`;
    if (taskRunnerName.toLowerCase().startsWith(props.lambdaTaskPrefix.toLowerCase())) {
      throw new Error(
        `The task runner ${taskRunnerName} must not match the lambda task prefix ${props.lambdaTaskPrefix}`,
      );
    }

    // Step Functions logs through vended log delivery; AWS recommends the
    // /aws/vendedlogs/ prefix (one resource policy covers it). The suffix,
    // from the stack id, keeps a retained group of an earlier stack from
    // colliding with this one's.
    this.statesLogGroup = new LogGroup(this, 'FlowLogs', {
      logGroupName: Fn.join('', [
        `/aws/vendedlogs/states/${props.prefix}-flows-`,
        Fn.select(0, Fn.split('-', Fn.select(2, Fn.split('/', Aws.STACK_ID)))),
      ]),
      retention: props.logRetention,
    });

    this.statesRole = new Role(this, 'StatesRole', {
      description: 'Sluice flow executions: the role every generated state machine runs as',
      // Only Sluice's state machines of this account may assume it (confused-deputy guard).
      assumedBy: new ServicePrincipal('states.amazonaws.com', {
        conditions: {
          StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
          ArnLike: { 'aws:SourceArn': arns.stateMachines },
        },
      }),
    });

    this.commands = props.commandTasks
      ? new CommandTasks(this, 'Commands', {
          ...props.commandTasks,
          prefix: props.prefix,
          logRetention: props.logRetention,
        })
      : undefined;

    const environment = {
      [configVariables.taskRunnerFunction]: taskRunnerName,
      [configVariables.statesRoleArn]: this.statesRole.roleArn,
      [configVariables.statesLogGroupArn]: this.statesLogGroup.logGroupArn,
      ...this.commands?.environment,
    };

    // The task runner: every Task state invokes it (lambdas/core/engine/task-actions.ts).
    this.taskRunnerFunction = new SluiceFunction(this, 'TaskRunner', {
      module: 'task-runner',
      description: 'Sluice task runner: every Task state of every flow state machine invokes it',
      functionName: taskRunnerName,
      table: props.table,
      bucket: props.bucket,
      logRetention: props.logRetention,
      environment,
      // Inline tasks (http) run inside one invocation; each Task state's
      // TimeoutSeconds is the task's own limit, this only the ceiling.
      timeout: Duration.minutes(15),
    });
    this.taskRunner = this.taskRunnerFunction.function;
    this.taskRunnerFunction.grantMetadata(props.table, 'write');
    this.taskRunnerFunction.grantBlobs(props.bucket, 'write');
    // The last upstream task to finish releases the join gate (a parked task token).
    grantTaskTokens(this.taskRunnerFunction.role);

    // How an execution ended, from Step Functions' own status-change events.
    this.executionEvents = new SluiceFunction(this, 'ExecutionEvents', {
      module: 'execution-events',
      description: 'Sluice: records how flow executions end (Step Functions status-change events)',
      table: props.table,
      bucket: props.bucket,
      logRetention: props.logRetention,
      environment,
    });
    this.executionEvents.grantMetadata(props.table, 'write');
    // Hooks run where an end is recorded: EnOS starts a flow's next queued instance from here.
    this.executionEvents.grantBlobs(props.bucket, 'write');
    this.executionEnded = new Rule(this, 'ExecutionEnded', {
      description: 'Sluice: a flow execution succeeded, failed, timed out or was stopped',
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: {
          status: ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'],
          stateMachineArn: [{ prefix: arns.stateMachinePrefix }],
        },
      },
      targets: [
        new LambdaFunction(this.executionEvents.function, {
          retryAttempts: 185,
          maxEventAge: Duration.hours(24),
        }),
      ],
    });

    this.grantStatesRole(props);
    this.triggers = new Triggers(this, 'Triggers', {
      prefix: props.prefix,
      table: props.table,
      bucket: props.bucket,
      logRetention: props.logRetention,
      environment,
    });
    this.engine = {
      taskRunner: this.taskRunner,
      statesRole: this.statesRole,
      statesLogGroup: this.statesLogGroup,
      environment,
      schedules: this.triggers.schedules,
    };
    // Both trigger functions start executions, as the API's `run` routes do, and so does the
    // execution-events function (EnOS starts a flow's next queued instance when one ends).
    for (const fn of [this.triggers.fireFunction, this.triggers.uploadFunction, this.executionEvents]) {
      grantOrchestrator(fn.role, this.engine, 'run');
    }
    acknowledgeNotificationHandler(this);

    // A scheduled run, an upload or an execution's end that fails twice is kept here, not dropped.
    this.failedEvents = new Queue(this, 'FailedEvents', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.failedEvents).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is the dead-letter destination of the fire-trigger, s3-upload and execution-events ' +
        'functions; a dead-letter queue of its own would only move the same messages again.',
    });
    for (const fn of [this.triggers.fireFunction, this.triggers.uploadFunction, this.executionEvents]) {
      fn.keepFailedEvents(this.failedEvents);
    }
    new CfnOutput(this, 'FailedEventsQueueUrl', {
      value: this.failedEvents.queueUrl,
      description: 'Scheduled runs, uploads and execution ends that could not be handled',
    });

    new CfnOutput(this, 'TaskRunnerFunction', {
      value: taskRunnerName,
      description: 'Invoked by every Task state',
    });
    new CfnOutput(this, 'StatesRoleArn', {
      value: this.statesRole.roleArn,
      description: 'Flow executions run as',
    });
    new CfnOutput(this, 'StatesLogGroupArn', {
      value: this.statesLogGroup.logGroupArn,
      description: 'Where flow state machines log',
    });
    guardResourceBudget(this);
  }

  /** What generated state machines do, and nothing else. */
  private grantStatesRole(props: EngineStackProps): void {
    const role = this.statesRole;
    const arns = flowArns(this);
    const grant = (actions: string[], resources: string[], conditions?: Record<string, unknown>) =>
      role.addToPrincipalPolicy(
        new PolicyStatement({ actions, resources, ...(conditions ? { conditions } : {}) }),
      );

    // Every Task state invokes the task runner (unqualified: definitions name the function).
    grant(['lambda:InvokeFunction'], [this.taskRunner.functionArn]);

    // `lambda` tasks invoke the user's own functions, named with the agreed prefix.
    const userFunctions = this.formatArn({
      service: 'lambda',
      resource: 'function',
      resourceName: `${props.lambdaTaskPrefix}*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    grant(['lambda:InvokeFunction'], [userFunctions]);
    acknowledgeWildcardResource(role, userFunctions, {
      reason:
        `Flows' lambda tasks invoke functions named at run time by the flow descriptor; only functions ` +
        `whose name starts with ${props.lambdaTaskPrefix} (context sluice:lambdaTaskPrefix) can be invoked, ` +
        'an opt-in naming convention, never the task runner or any other function.',
    });

    // Subflows: startExecution(.sync) of another Sluice state machine.
    grant(['states:StartExecution'], [arns.stateMachines]);
    grant(['states:DescribeExecution', 'states:StopExecution'], [arns.executions]);
    grant(syncRuleActions, [this.syncRuleArn(syncRules.execution)]);
    acknowledgeFlowWildcard(role, arns.stateMachines, 'stateMachine');
    acknowledgeFlowWildcard(role, arns.executions, 'execution');

    // Execution logs, delivered to the flows' log group.
    grant(logDeliveryActions, ['*']);
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Step Functions log delivery needs logs:CreateLogDelivery/GetLogDelivery/UpdateLogDelivery/' +
        'DeleteLogDelivery/ListLogDeliveries/PutResourcePolicy/DescribeResourcePolicies/DescribeLogGroups ' +
        'on the execution role; none supports resource-level permissions, so * is their only resource.',
    });

    const commands = this.commands;
    if (!commands) return;
    const { cluster, taskDefinition } = commands;
    // Command tasks: run the one task definition (any revision of its family), on this cluster only.
    const family = this.formatArn({
      service: 'ecs',
      resource: 'task-definition',
      resourceName: `${taskDefinition.family}:*`,
    });
    grant(['ecs:RunTask'], [family], { ArnEquals: { 'ecs:cluster': cluster.clusterArn } });
    const tasks = this.formatArn({
      service: 'ecs',
      resource: 'task',
      resourceName: `${cluster.clusterName}/*`,
    });
    grant(['ecs:StopTask', 'ecs:DescribeTasks'], [tasks]);
    grant(['iam:PassRole'], [commands.executionRole.roleArn, commands.taskRole.roleArn], {
      StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' },
    });
    grant(syncRuleActions, [this.syncRuleArn(syncRules.ecsTask)]);
    acknowledgeWildcardResource(role, family, {
      reason:
        'ecs:RunTask names the command task definition by family, so any revision CloudFormation ' +
        'registers runs; the wildcard is the revision number of that one family, on this cluster only.',
    });
    acknowledgeWildcardResource(role, tasks, {
      reason:
        'Task ids are made by ECS when a command task starts; stopping and describing them is limited ' +
        'to tasks of the command cluster.',
    });
  }

  private syncRuleArn(rule: string): string {
    return this.formatArn({ service: 'events', resource: 'rule', resourceName: rule });
  }
}

interface CommandTasksProps extends CommandTaskOptions {
  prefix: string;
  logRetention: RetentionDays;
}

/**
 * Where command tasks run: never inside a Lambda function of the API, only
 * in an isolated Fargate task: its own network (no inbound at all), a task
 * role with no permissions, a read-only root filesystem.
 */
export class CommandTasks extends Construct {
  readonly vpc: IVpc;
  readonly subnets: SubnetSelection;
  /** Public subnets give tasks a public IP (their only way out without a NAT gateway). */
  readonly assignPublicIp: boolean;
  readonly securityGroup: SecurityGroup;
  readonly cluster: Cluster;
  readonly taskDefinition: FargateTaskDefinition;
  /** What the command itself may do on AWS: nothing. */
  readonly taskRole: Role;
  /** ECS starting the task: writes its logs. */
  readonly executionRole: Role;
  readonly environment: Readonly<Record<string, string>>;

  constructor(scope: Construct, id: string, props: CommandTasksProps) {
    super(scope, id);
    if (props.vpcId) {
      // An existing VPC (a lookup: needs the stack's account and region).
      this.vpc = Vpc.fromLookup(this, 'Vpc', { vpcId: props.vpcId });
      const privateSubnets = this.vpc.privateSubnets.length > 0;
      this.subnets = { subnetType: privateSubnets ? SubnetType.PRIVATE_WITH_EGRESS : SubnetType.PUBLIC };
      this.assignPublicIp = !privateSubnets;
    } else {
      // Public subnets only and no NAT gateway: a NAT gateway costs about
      // $32 a month per AZ even when no flow runs. Tasks get a public IP to
      // pull their image and reach what their commands call; the security
      // group lets nothing in. Two AZs keep commands running if one fails.
      const flowLogs = new LogGroup(this, 'VpcFlowLogs', { retention: props.logRetention });
      this.vpc = new Vpc(this, 'Vpc', {
        maxAzs: 2,
        natGateways: 0,
        subnetConfiguration: [
          { name: 'Public', subnetType: SubnetType.PUBLIC, cidrMask: 24, mapPublicIpOnLaunch: false },
        ],
        flowLogs: {
          all: {
            destination: FlowLogDestination.toCloudWatchLogs(flowLogs),
            trafficType: FlowLogTrafficType.ALL,
          },
        },
      });
      this.subnets = { subnetType: SubnetType.PUBLIC };
      this.assignPublicIp = true;
    }

    this.securityGroup = new SecurityGroup(this, 'SecurityGroup', {
      vpc: this.vpc,
      description: 'Sluice command tasks: no inbound; outbound for image pulls and what commands call',
      allowAllOutbound: true,
    });

    this.cluster = new Cluster(this, 'Cluster', {
      vpc: this.vpc,
      containerInsightsV2: ContainerInsights.ENABLED,
    });

    const logs = new LogGroup(this, 'Logs', { retention: props.logRetention });
    this.taskRole = new Role(this, 'TaskRole', {
      assumedBy: new ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'Sluice command tasks: the commands themselves (no permissions)',
    });
    this.executionRole = new Role(this, 'ExecutionRole', {
      assumedBy: new ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'Sluice command tasks: ECS starting them (writes their logs)',
    });
    this.taskDefinition = new FargateTaskDefinition(this, 'TaskDefinition', {
      family: `${props.prefix}-command`,
      runtimePlatform: {
        cpuArchitecture: CpuArchitecture.ARM64,
        operatingSystemFamily: OperatingSystemFamily.LINUX,
      },
      // 0.25 vCPU / 0.5 GiB; each task's cpu and memoryGiB override these per run.
      cpu: 256,
      memoryLimitMiB: 512,
      taskRole: this.taskRole,
      executionRole: this.executionRole,
      volumes: [{ name: 'scratch' }],
    });
    const container = this.taskDefinition.addContainer(commandContainerName, {
      image: ContainerImage.fromRegistry(props.image),
      essential: true,
      logging: LogDrivers.awsLogs({ logGroup: logs, streamPrefix: 'command' }),
      // The image stays as built; commands write to /tmp (task-local ephemeral storage).
      readonlyRootFilesystem: true,
    });
    container.addMountPoints({ sourceVolume: 'scratch', containerPath: '/tmp', readOnly: false });

    this.environment = {
      [configVariables.ecsCluster]: this.cluster.clusterArn,
      // The family: RunTask takes its latest ACTIVE revision, so state machines
      // created before a deployment keep working after it.
      [configVariables.ecsTaskDefinition]: this.taskDefinition.family,
      [configVariables.ecsSubnets]: Fn.join(',', this.vpc.selectSubnets(this.subnets).subnetIds),
      [configVariables.ecsSecurityGroup]: this.securityGroup.securityGroupId,
      [configVariables.ecsAssignPublicIp]: this.assignPublicIp ? 'ENABLED' : 'DISABLED',
    };
  }
}
