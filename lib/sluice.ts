import { type Environment, Tags } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { Dialect } from '../lambdas/http/route.ts';
import { ApiStack } from './api-stack.ts';
import { DialectStack } from './dialect-stack.ts';
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
  env?: Environment;
}

export const defaultOptions: SluiceOptions = {
  prefix: 'Sluice',
  logRetention: RetentionDays.ONE_MONTH,
  corsAllowOrigins: [],
  throttle: { rateLimit: 100, burstLimit: 200 },
};

const retentionValues = new Set<number>(Object.values(RetentionDays).filter((v) => typeof v === 'number'));

function positiveInteger(scope: Construct, key: string, fallback: number): number {
  const raw: unknown = scope.node.tryGetContext(key);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0)
    throw new Error(`Context ${key} must be a positive integer, got ${raw}`);
  return value;
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
    ...(env ? { env } : {}),
  };
}

export interface SluiceStacks {
  storage: StorageStack;
  api: ApiStack;
  /** One per dialect that has routes. */
  dialects: Map<Dialect, DialectStack>;
}

/**
 * Every Sluice stack, built from the route table: storage, the HTTP API (with
 * the `$default` route), then one stack per dialect with its functions and routes.
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
  const shared = { table: storage.table, bucket: storage.bucket, logRetention };
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
  return { storage, api, dialects };
}
