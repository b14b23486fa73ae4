import { createHash, randomBytes } from 'node:crypto';
import type { ItemKey, MetadataStore, Page, PageRequest, StoredItem } from '../../ports/metadata-store.ts';
import type { StateMachineRef } from '../../ports/orchestrator.ts';
import { isDomainErrorOf, notFound } from '../errors.ts';
import type { Execution, FlowDescriptor, LogEntry, TaskRun } from '../flow/model.ts';
import { wholePartition } from '../stored-items.ts';
import type { Prepared } from './task-actions.ts';

/**
 * The engine's records in the metadata store (see table-design.ts for the
 * physical keys). Partitions:
 *
 * | partition        | sort            | holds                                  | collection            |
 * |------------------|-----------------|----------------------------------------|-----------------------|
 * | `flow#ID`        | `head`          | flow identity, latest version          | `flows#TENANT`        |
 * | `flow#ID`        | `version#000001`| one immutable descriptor version       |                       |
 * | `execution#ID`   | `head`          | execution status                       | `executions#TENANT`   |
 * | `execution#ID`   | `run#NAME`      | one task run                           |                       |
 * | `execution#ID`   | `gate#NAME`     | join gate: which upstreams arrived     |                       |
 * | `execution#ID`   | `context`       | the context (inline or in the blob store)|                     |
 * | `log#ID`         | `TIME#SEQ`      | one log entry                          |                       |
 * | `token#SHA256`   | `token`         | what a task token wakes up             |                       |
 */

export interface FlowHead {
  id: string;
  tenant: string;
  name: string;
  latestVersion: number;
  createdAt: string;
}

export interface FlowVersion {
  flowId: string;
  version: number;
  descriptor: FlowDescriptor;
  stateMachine: StateMachineRef;
  createdAt: string;
}

export interface ExecutionRecord extends Execution {
  stateMachine: StateMachineRef;
  /** How often it was resumed: an end reported for an earlier run is stale. */
  redrives?: number;
}

export interface Gate {
  /** Upstream tasks that finished (a set, so a repeated signal is harmless). */
  arrived: string[];
  /** Some upstream was skipped or disabled this edge. */
  skip: boolean;
  /** Some upstream ran and left this edge enabled (what an `any` join needs). */
  ran?: boolean;
  /** The parked task token of the waiting `await` state. */
  token?: string;
  /** The token already sent, so each token is released exactly once. */
  releasedToken?: string;
}

/** A task run as stored: the public TaskRun plus what the runner needs between steps. */
export interface TaskRunRecord extends TaskRun {
  input?: Record<string, unknown>;
  /** What the run step prepared for an external step (command, lambda, foreach…). */
  prepared?: Prepared;
  /** The callback token of a waiting async or wake-up task. */
  token?: string;
  /** Downstream tasks a choice or return task disabled. */
  disabled?: string[];
  /** The run of the execution (its redrive count) in which an external step failed the task. */
  failedInRun?: number;
}

export interface TokenRecord {
  token: string;
  executionId: string;
  run: string;
  purpose: 'gate' | 'async' | 'wake-up';
}

export const versionKey = (version: number) => `version#${String(version).padStart(6, '0')}`;
const flowHeadKey = (id: string): ItemKey => ({ partition: `flow#${id}`, sort: 'head' });
const executionKey = (id: string): ItemKey => ({ partition: `execution#${id}`, sort: 'head' });
const runKey = (id: string, run: string): ItemKey => ({ partition: `execution#${id}`, sort: `run#${run}` });
const gateKey = (id: string, run: string): ItemKey => ({ partition: `execution#${id}`, sort: `gate#${run}` });
const tokenKey = (token: string): ItemKey => ({
  partition: `token#${createHash('sha256').update(token).digest('hex')}`,
  sort: 'token',
});

/** Tells apart log entries that two processes (Lambda instances) write in the same millisecond. */
const processTag = randomBytes(4).toString('hex');
let logSequence = 0;

export class EngineRecords {
  readonly store: MetadataStore;
  constructor(store: MetadataStore) {
    this.store = store;
  }

  /**
   * Read-modify-write of one item with optimistic locking, retried on a
   * concurrent change. `change` returns the new data (or the old to keep it).
   */
  async mutate<T>(key: ItemKey, change: (current: T | undefined) => T, attempts = 25): Promise<T> {
    for (let attempt = 0; attempt < attempts; attempt += 1) {
      const current = await this.store.get<T>(key);
      const next = change(current?.data);
      try {
        if (current) await this.store.update({ key, data: next, ...collectionOf(current) }, current.version);
        else await this.store.create({ key, data: next });
        return next;
      } catch (error) {
        if (!isDomainErrorOf(error, 'conflict')) throw error;
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * (attempt + 1)));
      }
    }
    throw new Error(`could not update ${key.partition}/${key.sort}: too much contention`);
  }

  // Flows

  async createFlow(head: FlowHead, version: FlowVersion): Promise<void> {
    // Version first: a head never points at a version that is not stored.
    await this.store.create({
      key: { partition: `flow#${head.id}`, sort: versionKey(version.version) },
      data: version,
    });
    await this.store.create({
      key: flowHeadKey(head.id),
      collection: { name: `flows#${head.tenant}`, order: `${head.createdAt}#${head.id}` },
      data: head,
    });
  }

  async addFlowVersion(head: StoredItem<FlowHead>, version: FlowVersion): Promise<void> {
    await this.store.create({
      key: { partition: `flow#${head.data.id}`, sort: versionKey(version.version) },
      data: version,
    });
    await this.store.update(
      { key: head.key, ...collectionOf(head), data: { ...head.data, latestVersion: version.version } },
      head.version,
    );
  }

  getFlowHead(id: string): Promise<StoredItem<FlowHead> | undefined> {
    return this.store.get<FlowHead>(flowHeadKey(id));
  }

  async getFlowVersion(id: string, version: number): Promise<FlowVersion> {
    const item = await this.store.get<FlowVersion>({ partition: `flow#${id}`, sort: versionKey(version) });
    if (!item) throw notFound(`Flow ${id} has no version ${version}`);
    return item.data;
  }

  listFlows(tenant: string, page: PageRequest): Promise<Page<StoredItem<FlowHead>>> {
    return this.store.listCollection<FlowHead>(`flows#${tenant}`, { ...page, descending: true });
  }

  /** Removes the flow's head (it disappears from lists and lookups); versions stay for past executions. */
  async deleteFlow(id: string): Promise<boolean> {
    return this.store.delete(flowHeadKey(id));
  }

  // Executions

  async createExecution(execution: ExecutionRecord): Promise<void> {
    await this.store.create({
      key: executionKey(execution.id),
      collection: { name: `executions#${execution.tenant}`, order: `${execution.startedAt}#${execution.id}` },
      data: execution,
    });
  }

  async getExecution(id: string): Promise<ExecutionRecord | undefined> {
    return (await this.store.get<ExecutionRecord>(executionKey(id)))?.data;
  }

  updateExecution(
    id: string,
    change: (current: ExecutionRecord) => ExecutionRecord,
  ): Promise<ExecutionRecord> {
    return this.mutate<ExecutionRecord>(executionKey(id), (current) => {
      if (!current) throw notFound(`Execution ${id} does not exist`);
      return change(current);
    });
  }

  listExecutions(tenant: string, page: PageRequest): Promise<Page<StoredItem<ExecutionRecord>>> {
    return this.store.listCollection<ExecutionRecord>(`executions#${tenant}`, page);
  }

  // Task runs

  async getRun(executionId: string, run: string): Promise<TaskRunRecord | undefined> {
    return (await this.store.get<TaskRunRecord>(runKey(executionId, run)))?.data;
  }

  updateRun(
    executionId: string,
    run: string,
    change: (current: TaskRunRecord) => TaskRunRecord,
  ): Promise<TaskRunRecord> {
    return this.mutate<TaskRunRecord>(runKey(executionId, run), (current) =>
      change(current ?? { executionId, task: run, status: 'PENDING', attempts: 0 }),
    );
  }

  listRuns(executionId: string): Promise<TaskRunRecord[]> {
    return wholePartition<TaskRunRecord>(this.store, `execution#${executionId}`, 'run#');
  }

  // Gates

  updateGate(executionId: string, run: string, change: (gate: Gate) => Gate): Promise<Gate> {
    return this.mutate<Gate>(gateKey(executionId, run), (current) =>
      change(current ?? { arrived: [], skip: false }),
    );
  }

  // Tokens

  async saveToken(record: TokenRecord): Promise<void> {
    await this.mutate<TokenRecord>(tokenKey(record.token), () => record);
  }

  async findToken(token: string): Promise<TokenRecord | undefined> {
    return (await this.store.get<TokenRecord>(tokenKey(token)))?.data;
  }

  // Logs

  /** One write per entry: time order, then a process-unique suffix for entries of the same millisecond. */
  async appendLog(entry: LogEntry): Promise<void> {
    logSequence = (logSequence + 1) % 1_000_000;
    await this.store.create({
      key: {
        partition: `log#${entry.executionId}`,
        sort: `${entry.timestamp}#${processTag}${String(logSequence).padStart(6, '0')}`,
      },
      data: entry,
    });
  }

  listLogs(executionId: string, page: PageRequest): Promise<Page<StoredItem<LogEntry>>> {
    return this.store.listPartition<LogEntry>(`log#${executionId}`, '', page);
  }
}

function collectionOf<T>(item: StoredItem<T>): { collection?: StoredItem<T>['collection'] } {
  return item.collection ? { collection: item.collection } : {};
}
