import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { MAX_CATCH_UP } from '../lambdas/core/triggers/service.ts';

const projectRoot = resolve(import.meta.dirname, '..');

const port = z.coerce.number().int().min(0).max(65535);
const flag = z
  .enum(['true', 'false', '1', '0', ''])
  .transform((value) => value === 'true' || value === '1')
  .optional();

const environmentSchema = z.object({
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: port.default(8080),
  SLUICE_DATA_DIR: z.string().min(1).default(resolve(projectRoot, '.sluice-data')),
  SLUICE_IN_MEMORY: flag,
  SLUICE_DYNAMODB: z.enum(['dynalite', 'dynamodb-local']).default('dynalite'),
  DYNAMODB_PORT: port.default(4567),
  S3_PORT: port.default(4569),
  SLUICE_TABLE_NAME: z.string().min(3).default('sluice'),
  SLUICE_BUCKET_NAME: z.string().min(3).default('sluice-files'),
  SLUICE_COMMAND_TASKS: flag,
  SLUICE_SCHEDULE_CATCH_UP: z.coerce.number().int().min(0).max(MAX_CATCH_UP).default(0),
});

const loopback = (host: string) => host === 'localhost' || host === '::1' || host.startsWith('127.');

export interface LocalSettings {
  host: string;
  port: number;
  /** undefined = everything in memory, nothing survives a restart. */
  dataDir: string | undefined;
  dynamodb: 'dynalite' | 'dynamodb-local';
  dynamodbPort: number;
  s3Port: number;
  tableName: string;
  bucketName: string;
  /** Command tasks run shell commands on this machine: on by default only when the API listens on loopback. */
  commandTasks: boolean;
  /** Cron runs missed while the server was down that each trigger replays on start (0 = none). */
  scheduleCatchUp: number;
}

export const settingsHelp = `Usage: npm start [-- --in-memory] [-- --dynamodb-local]

Environment (defaults in brackets):
  HOST [127.0.0.1]   PORT [8080]   S3_PORT [4569]   DYNAMODB_PORT [4567]   (0 = any free port)
  SLUICE_DATA_DIR [.sluice-data]   where data lives across restarts
  SLUICE_IN_MEMORY [false]         keep nothing on disk
  SLUICE_DYNAMODB [dynalite]       or dynamodb-local (AWS's DynamoDB Local; needs Java 17+)
  SLUICE_TABLE_NAME [sluice]       SLUICE_BUCKET_NAME [sluice-files]
  SLUICE_COMMAND_TASKS [true on a loopback HOST, else false]   run command tasks as local processes
  SLUICE_SCHEDULE_CATCH_UP [0]     cron runs (at most ${MAX_CATCH_UP}) each trigger replays that were missed while stopped`;

/** Local runtime settings from the environment and command-line flags (flags win). */
export function readSettings(argv: string[] = process.argv.slice(2), env = process.env): LocalSettings {
  const { values } = parseArgs({
    args: argv,
    options: {
      'in-memory': { type: 'boolean' },
      'dynamodb-local': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(settingsHelp);
    process.exit(0);
  }
  const parsed = environmentSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map((issue) => `${issue.path.join('.')}: ${issue.message}`)
      .join('; ');
    throw new Error(`Invalid local settings: ${problems}\n\n${settingsHelp}`);
  }
  const e = parsed.data;
  const inMemory = values['in-memory'] ?? e.SLUICE_IN_MEMORY ?? false;
  return {
    host: e.HOST,
    port: e.PORT,
    dataDir: inMemory ? undefined : resolve(e.SLUICE_DATA_DIR),
    dynamodb: values['dynamodb-local'] ? 'dynamodb-local' : e.SLUICE_DYNAMODB,
    dynamodbPort: e.DYNAMODB_PORT,
    s3Port: e.S3_PORT,
    tableName: e.SLUICE_TABLE_NAME,
    bucketName: e.SLUICE_BUCKET_NAME,
    commandTasks: e.SLUICE_COMMAND_TASKS ?? loopback(e.HOST),
    scheduleCatchUp: e.SLUICE_SCHEDULE_CATCH_UP,
  };
}

/**
 * Settings for a throwaway runtime (tests, benchmarks): loopback, free
 * ports, in memory, dynalite, no command tasks unless overridden.
 */
export const ephemeralSettings = (overrides: Partial<LocalSettings> = {}): LocalSettings => ({
  host: '127.0.0.1',
  port: 0,
  dataDir: undefined,
  dynamodb: 'dynalite',
  dynamodbPort: 0,
  s3Port: 0,
  tableName: 'sluice',
  bucketName: 'sluice-files',
  commandTasks: false,
  scheduleCatchUp: 0,
  ...overrides,
});
