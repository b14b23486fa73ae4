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
  /** Only set locally: the DynamoDB stand-in's endpoint. */
  SLUICE_DYNAMODB_ENDPOINT: z.url().optional(),
  /** Only set locally: the S3 stand-in's endpoint (path-style addressing). */
  SLUICE_S3_ENDPOINT: z.url().optional(),
});

export interface SluiceConfig {
  tableName: string;
  bucketName: string;
  region: string;
  dynamodbEndpoint: string | undefined;
  s3Endpoint: string | undefined;
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
  };
}

/** Names the CDK stacks pass as environment variables, kept beside the schema that reads them. */
export const configVariables = {
  tableName: 'SLUICE_TABLE_NAME',
  bucketName: 'SLUICE_BUCKET_NAME',
} as const;
