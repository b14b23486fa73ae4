import { z } from 'zod';

/**
 * Runtime configuration, read once from the environment and validated. The
 * CDK stacks set these on every function; the local runtime sets them to its
 * stand-ins' endpoints.
 */
const configSchema = z.object({
  SLUICE_TABLE_NAME: z.string().min(1),
  SLUICE_BUCKET_NAME: z.string().min(1),
  AWS_REGION: z.string().min(1).default('us-east-1'),
  /** Where this deployment's API answers (callback URLs handed to executors). */
  SLUICE_PUBLIC_URL: z.url().optional(),
  /** Only set locally: the DynamoDB stand-in's endpoint. */
  SLUICE_DYNAMODB_ENDPOINT: z.url().optional(),
  /** Only set locally: the S3 stand-in's endpoint (path-style addressing). */
  SLUICE_S3_ENDPOINT: z.url().optional(),
  /** The flow engine on AWS (set by the CDK stacks on the functions that deploy or run flows). */
  SLUICE_TASK_RUNNER_FUNCTION: z.string().min(1).optional(),
  SLUICE_STATES_ROLE_ARN: z.string().min(1).optional(),
  SLUICE_STATES_LOG_GROUP_ARN: z.string().min(1).optional(),
  SLUICE_ECS_CLUSTER: z.string().min(1).optional(),
  SLUICE_ECS_TASK_DEFINITION: z.string().min(1).optional(),
  SLUICE_ECS_SUBNETS: z.string().min(1).optional(),
  SLUICE_ECS_SECURITY_GROUP: z.string().min(1).optional(),
  /** ENABLED when command tasks run in public subnets without NAT (they need a public IP to pull images). */
  SLUICE_ECS_ASSIGN_PUBLIC_IP: z.enum(['ENABLED', 'DISABLED']).optional(),
  /** Cron triggers on AWS (set on the functions that create, change or delete triggers). */
  SLUICE_SCHEDULE_GROUP: z.string().min(1).optional(),
  SLUICE_SCHEDULER_ROLE_ARN: z.string().min(1).optional(),
  SLUICE_FIRE_TRIGGER_FUNCTION_ARN: z.string().min(1).optional(),
});

/** Where flows run on AWS; absent locally, where the in-process orchestrator needs none of it. */
export interface EngineConfig {
  taskRunnerFunction: string;
  statesRoleArn: string;
  statesLogGroupArn: string | undefined;
  ecsCluster: string | undefined;
  ecsTaskDefinition: string | undefined;
  ecsSubnets: string[];
  ecsSecurityGroup: string | undefined;
  ecsAssignPublicIp: boolean;
}

/** Where cron triggers' schedules live on AWS and what they invoke. */
export interface ScheduleConfig {
  groupName: string;
  roleArn: string;
  targetArn: string;
}

export interface SluiceConfig {
  tableName: string;
  bucketName: string;
  region: string;
  dynamodbEndpoint: string | undefined;
  s3Endpoint: string | undefined;
  publicUrl: string | undefined;
  engine: EngineConfig | undefined;
  schedules: ScheduleConfig | undefined;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): SluiceConfig {
  const parsed = configSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new Error(`Invalid Sluice configuration: ${problems.join('; ')}`);
  }
  const c = parsed.data;
  return {
    tableName: c.SLUICE_TABLE_NAME,
    bucketName: c.SLUICE_BUCKET_NAME,
    region: c.AWS_REGION,
    dynamodbEndpoint: c.SLUICE_DYNAMODB_ENDPOINT,
    s3Endpoint: c.SLUICE_S3_ENDPOINT,
    publicUrl: c.SLUICE_PUBLIC_URL?.replace(/\/$/, ''),
    engine:
      c.SLUICE_TASK_RUNNER_FUNCTION && c.SLUICE_STATES_ROLE_ARN
        ? {
            taskRunnerFunction: c.SLUICE_TASK_RUNNER_FUNCTION,
            statesRoleArn: c.SLUICE_STATES_ROLE_ARN,
            statesLogGroupArn: c.SLUICE_STATES_LOG_GROUP_ARN,
            ecsCluster: c.SLUICE_ECS_CLUSTER,
            ecsTaskDefinition: c.SLUICE_ECS_TASK_DEFINITION,
            ecsSubnets: c.SLUICE_ECS_SUBNETS?.split(',').filter(Boolean) ?? [],
            ecsSecurityGroup: c.SLUICE_ECS_SECURITY_GROUP,
            ecsAssignPublicIp: c.SLUICE_ECS_ASSIGN_PUBLIC_IP === 'ENABLED',
          }
        : undefined,
    schedules:
      c.SLUICE_SCHEDULE_GROUP && c.SLUICE_SCHEDULER_ROLE_ARN && c.SLUICE_FIRE_TRIGGER_FUNCTION_ARN
        ? {
            groupName: c.SLUICE_SCHEDULE_GROUP,
            roleArn: c.SLUICE_SCHEDULER_ROLE_ARN,
            targetArn: c.SLUICE_FIRE_TRIGGER_FUNCTION_ARN,
          }
        : undefined,
  };
}

/** Names the CDK stacks pass as environment variables, kept beside the schema that reads them. */
export const configVariables = {
  tableName: 'SLUICE_TABLE_NAME',
  bucketName: 'SLUICE_BUCKET_NAME',
  publicUrl: 'SLUICE_PUBLIC_URL',
  taskRunnerFunction: 'SLUICE_TASK_RUNNER_FUNCTION',
  statesRoleArn: 'SLUICE_STATES_ROLE_ARN',
  statesLogGroupArn: 'SLUICE_STATES_LOG_GROUP_ARN',
  ecsCluster: 'SLUICE_ECS_CLUSTER',
  ecsTaskDefinition: 'SLUICE_ECS_TASK_DEFINITION',
  ecsSubnets: 'SLUICE_ECS_SUBNETS',
  ecsSecurityGroup: 'SLUICE_ECS_SECURITY_GROUP',
  ecsAssignPublicIp: 'SLUICE_ECS_ASSIGN_PUBLIC_IP',
  scheduleGroup: 'SLUICE_SCHEDULE_GROUP',
  schedulerRoleArn: 'SLUICE_SCHEDULER_ROLE_ARN',
  fireTriggerFunctionArn: 'SLUICE_FIRE_TRIGGER_FUNCTION_ARN',
} as const;
