import { type Environment, Tags } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { Dialect } from '../lambdas/http/route.ts';
import { ApiStack } from './api-stack.ts';
import { DialectStack } from './dialect-stack.ts';
import { type CommandTaskOptions, EngineStack } from './engine-stack.ts';
import { pascalCase, planStacks, type StackPlan } from './route-plan.ts';
import { StorageStack } from './storage-stack.ts';

/** Deployment settings, read from CDK context (`cdk.json` or `-c key=value`). */
export interface SluiceOptions {
  /** Prefix of every stack name, so several deployments can share an account. Context `sluice:prefix`. */
  prefix: string;
  /** Days Lambda and access logs are kept. Context `sluice:logRetentionDays`. */
  logRetention: RetentionDays;
  /** Comma-separated browser origins for CORS; empty = CORS off. Context `sluice:corsAllowOrigins`. */
  corsAllowOrigins: string[];
  /** Stage throttling. Context `sluice:throttleRateLimit` / `sluice:throttleBurstLimit`. */
  throttle: { rateLimit: number; burstLimit: number };
  /**
   * Flows' `lambda` tasks may invoke only functions whose name starts with
   * this. Context `sluice:lambdaTaskPrefix`.
   */
  lambdaTaskPrefix: string;
  /**
   * Command tasks run in an isolated Fargate task; off (no ECS resources,
   * and the engine refuses command tasks) unless context
   * `sluice:enableCommandTasks` is true. Then `sluice:commandImage` is the
   * image and `sluice:vpcId` an existing VPC to use instead of a new one.
   */
  commandTasks?: CommandTaskOptions;
  env?: Environment;
}

export const defaultOptions: SluiceOptions = {
  prefix: 'Sluice',
  logRetention: RetentionDays.ONE_MONTH,
  corsAllowOrigins: [],
  throttle: { rateLimit: 100, burstLimit: 200 },
  lambdaTaskPrefix: 'sluice-task-',
};

export const defaultCommandImage = 'public.ecr.aws/amazonlinux/amazonlinux:2023';

const retentionValues = new Set<number>(Object.values(RetentionDays).filter((v) => typeof v === 'number'));

function positiveInteger(scope: Construct, key: string, fallback: number): number {
  const raw: unknown = scope.node.tryGetContext(key);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0)
    throw new Error(`Context ${key} must be a positive integer, got ${raw}`);
  return value;
}

function flag(scope: Construct, key: string): boolean {
  const raw: unknown = scope.node.tryGetContext(key);
  if (raw === undefined || raw === false || raw === 'false') return false;
  if (raw === true || raw === 'true') return true;
  throw new Error(`Context ${key} must be true or false, got ${String(raw)}`);
}

function commandTasksFromContext(scope: Construct, env?: Environment): CommandTaskOptions | undefined {
  if (!flag(scope, 'sluice:enableCommandTasks')) return undefined;
  const image: unknown = scope.node.tryGetContext('sluice:commandImage') ?? defaultCommandImage;
  if (typeof image !== 'string' || !/^[a-z0-9][\w.\-/:@]*$/i.test(image)) {
    throw new Error(`Context sluice:commandImage must be a container image reference, got ${String(image)}`);
  }
  const vpcId: unknown = scope.node.tryGetContext('sluice:vpcId');
  if (vpcId === undefined) return { image };
  if (typeof vpcId !== 'string' || !/^vpc-[0-9a-f]{8,17}$/.test(vpcId)) {
    throw new Error(`Context sluice:vpcId must be a VPC id (vpc-…), got ${String(vpcId)}`);
  }
  if (!env) {
    throw new Error(
      'Context sluice:vpcId needs an account and region (CDK_DEFAULT_ACCOUNT/REGION) to look the VPC up',
    );
  }
  return { image, vpcId };
}

/** Reads and validates the `sluice:*` context keys. */
export function optionsFromContext(scope: Construct, env?: Environment): SluiceOptions {
  const prefix: unknown = scope.node.tryGetContext('sluice:prefix') ?? defaultOptions.prefix;
  if (typeof prefix !== 'string' || !/^[A-Za-z][A-Za-z0-9-]{0,40}$/.test(prefix)) {
    throw new Error(`Context sluice:prefix must be a short stack-name prefix, got ${String(prefix)}`);
  }
  const days = positiveInteger(scope, 'sluice:logRetentionDays', defaultOptions.logRetention);
  if (!retentionValues.has(days)) {
    throw new Error(
      `Context sluice:logRetentionDays must be a CloudWatch retention (e.g. 30, 90, 365), got ${days}`,
    );
  }
  const origins: unknown = scope.node.tryGetContext('sluice:corsAllowOrigins') ?? '';
  const lambdaTaskPrefix: unknown =
    scope.node.tryGetContext('sluice:lambdaTaskPrefix') ?? defaultOptions.lambdaTaskPrefix;
  // At least three characters: a prefix like `s` would let flows invoke nearly any function.
  if (typeof lambdaTaskPrefix !== 'string' || !/^[A-Za-z0-9_-]{3,50}$/.test(lambdaTaskPrefix)) {
    throw new Error(
      `Context sluice:lambdaTaskPrefix must be a function-name prefix of 3 to 50 characters [A-Za-z0-9_-], got ${String(lambdaTaskPrefix)}`,
    );
  }
  const commandTasks = commandTasksFromContext(scope, env);
  return {
    prefix,
    logRetention: days,
    corsAllowOrigins: String(origins)
      .split(',')
      .map((origin) => origin.trim())
      .filter(Boolean),
    throttle: {
      rateLimit: positiveInteger(scope, 'sluice:throttleRateLimit', defaultOptions.throttle.rateLimit),
      burstLimit: positiveInteger(scope, 'sluice:throttleBurstLimit', defaultOptions.throttle.burstLimit),
    },
    lambdaTaskPrefix,
    ...(commandTasks ? { commandTasks } : {}),
    ...(env ? { env } : {}),
  };
}

export interface SluiceStacks {
  storage: StorageStack;
  engine: EngineStack;
  api: ApiStack;
  /** One per dialect that has routes. */
  dialects: Map<Dialect, DialectStack>;
}

/**
 * Every Sluice stack, built from the route table: storage, the flow engine,
 * the HTTP API (with the `$default` route), then one stack per dialect with
 * its functions and routes.
 */
export function defineSluice(
  scope: Construct,
  options: SluiceOptions,
  plan: StackPlan = planStacks(),
): SluiceStacks {
  const { prefix, logRetention } = options;
  const common = { ...(options.env ? { env: options.env } : {}) };
  const storage = new StorageStack(scope, `${prefix}-Storage`, {
    ...common,
    description: 'Sluice storage: metadata table and files bucket',
  });
  const engine = new EngineStack(scope, `${prefix}-Engine`, {
    ...common,
    description: 'Sluice flow engine: task runner, execution role and events, command tasks',
    prefix,
    table: storage.table,
    bucket: storage.bucket,
    logRetention,
    lambdaTaskPrefix: options.lambdaTaskPrefix,
    ...(options.commandTasks ? { commandTasks: options.commandTasks } : {}),
  });
  const shared = { table: storage.table, bucket: storage.bucket, logRetention, engine: engine.engine };
  const api = new ApiStack(scope, `${prefix}-Api`, {
    ...common,
    ...shared,
    description: 'Sluice HTTP API, its stage and the $default route',
    fallback: plan.fallback,
    corsAllowOrigins: options.corsAllowOrigins,
    throttle: options.throttle,
  });
  const dialects = new Map<Dialect, DialectStack>();
  for (const [dialect, handlers] of plan.byDialect) {
    dialects.set(
      dialect,
      new DialectStack(scope, `${prefix}-Routes-${pascalCase(dialect)}`, {
        ...common,
        ...shared,
        description: `Sluice ${dialect} dialect: functions and routes`,
        dialect,
        handlers,
        httpApi: api.httpApi,
      }),
    );
  }
  Tags.of(scope).add('project', 'sluice');
  return { storage, engine, api, dialects };
}
