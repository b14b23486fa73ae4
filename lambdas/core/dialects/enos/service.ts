import { createHash, randomUUID } from 'node:crypto';
import type { ItemKey, MetadataStore, StoredItem } from '../../../ports/metadata-store.ts';
import type { ExecutionService } from '../../engine/executions.ts';
import type { FlowService } from '../../engine/flows.ts';
import type { ExecutionRecord, TaskRunRecord } from '../../engine/records.ts';
import {
  DomainError,
  forbidden,
  isDomainErrorOf,
  notFound,
  type ValidationIssue,
  validationFailed,
} from '../../errors.ts';
import type { TaskRunStatus } from '../../flow/model.ts';
import { uuidFromKey } from '../../ids.ts';
import { parseSchedule } from '../../schedules/schedule.ts';
import { createIfAbsent, wholeCollection } from '../../stored-items.ts';
import type { TriggerService } from '../../triggers/service.ts';
import { type EnosTaskRef, type FlowJson, flowJsonSchema, parametersOf, translateFlow } from './flow.ts';

/**
 * EnOS batch processing (seed 004) on the canonical engine. A flow belongs to
 * its `orgId` (the engine tenant `enos:<orgId>`); its owners (and creator)
 * may change and run it, its visitors only read it, another organisation
 * does not see it. A flow runs one instance at a time: a trigger while one
 * runs queues (status WAIT) and starts when the running one ends.
 *
 * | partition                    | sort      | holds                                  | collection             |
 * |------------------------------|-----------|----------------------------------------|------------------------|
 * | `enos#flow#ID`               | `head`    | the flow                               | `enos#flows#ORG`       |
 * | `enos#flowname#ORG`          | `NAME`    | name → flow id (names are unique)      |                        |
 * | `enos#task#TASKID`           | `head`    | task id → flow and canonical task      |                        |
 * | `enos#dir#ID`                | `head`    | a directory                            | `enos#dirs#ORG`        |
 * | `enos#dirname#ORG#PARENT`    | `NAME`    | name → directory (unique per parent)   |                        |
 * | `enos#instance#ID`           | `head`    | a flow instance                        | `enos#instances#ORG`   |
 * | `enos#queue#FLOWID`          | `TIME#ID` | waiting for the running instance       |                        |
 * | `enos#flowrun#FLOWID`        | `lock`    | the one running instance               |                        |
 * | `enos#engine#EXECUTIONID`    | `link`    | engine execution → instance            |                        |
 */

export const enosTenant = (orgId: string) => `enos:${orgId}`;
const starterName = 'enos';

export interface EnosCaller {
  userId: string;
  orgId: string;
}

interface EnosFlow {
  flowId: number;
  orgId: string;
  flowName: string;
  desc: string;
  dirId: string;
  /** The Flow structure as imported (export returns it). */
  flowJson: unknown;
  engineFlowId: string;
  tasks: EnosTaskRef[];
  parameters: Record<string, string>;
  owners: string[];
  visitors: string[];
  creator: string;
  updateUser: string;
  createTime: string;
  updateTime: string;
  /** The cron trigger of its `cron`, if it has one. */
  triggerId?: string;
}

/** The Flow structure as imported (it was valid then): cron, cycle, alerts and the rest are read from it. */
const specOf = (flow: EnosFlow): FlowJson => flowJsonSchema.parse(flow.flowJson);
const cronOf = (spec: FlowJson): string => spec.cron?.trim() ?? '';

/** How a flow instance was started (FlowInstance search `type`). */
export const instanceTypes = { manual: 0, periodic: 1, temporary: 2 } as const;

type InstanceState = 'WAIT' | 'STARTED' | 'CANCEL' | 'START_FAILED';

interface EnosInstance {
  instanceId: string;
  flowId: number;
  orgId: string;
  type: number;
  owner: string;
  triggerTime: string;
  parameters: Record<string, string>;
  engineId: string;
  state: InstanceState;
  /** Its place in the flow's queue (creation time and id). */
  queuedAs: string;
  createTime: string;
  updateTime: string;
  startError?: string;
}

/** EnOS flow instance statuses. */
export const instanceStatus = {
  FAIL: -1,
  INIT: 0,
  SUCCESS: 1,
  RUNNING: 2,
  SUSPEND: 3,
  INTERNAL_ERROR: 4,
  WAIT: 5,
  READY: 6,
  TIMEOUT: 7,
  CANCEL: 8,
  RERUN: 9,
  SKIP: 10,
} as const;
const statusName = Object.fromEntries(Object.entries(instanceStatus).map(([name, code]) => [code, name]));

const taskStatus: Record<TaskRunStatus, string> = {
  PENDING: 'INIT',
  WAITING: 'RUNNING',
  RUNNING: 'RUNNING',
  SUCCEEDED: 'SUCCESS',
  FAILED: 'FAIL',
  SKIPPED: 'SKIP',
  STOPPED: 'CANCEL',
};

const sortFields = ['createTime', 'updateTime', 'startTime', 'triggerTime', 'endTime'] as const;

export interface Pagination {
  pageNo?: number;
  pageSize?: number;
  sorters?: { field: string; order?: string }[];
}

export interface EnosDependencies {
  store: MetadataStore;
  flows: FlowService;
  executions: ExecutionService;
  triggers: TriggerService;
  now?: () => Date;
}

const invalid = (message: string, path = 'body'): DomainError => {
  const issues: ValidationIssue[] = [{ path, message }];
  return validationFailed(message, issues);
};

/** "2019-08-12 08:07:30" (UTC), the form EnOS shows times in. */
const enosTime = (iso: string | undefined) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, '') : '');
const compactTime = (date: Date) => date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
const splitUsers = (value: string | undefined) =>
  (value ?? '')
    .split(/[;,]/)
    .map((user) => user.trim())
    .filter(Boolean);

export class EnosService {
  readonly deps: EnosDependencies;
  constructor(deps: EnosDependencies) {
    this.deps = deps;
    deps.executions.onEnded((execution) => this.instanceEnded(execution));
    // Scheduled runs are periodic instances; the scheduled time names them, so a redelivery finds its instance.
    deps.triggers.registerStarter(starterName, async ({ trigger, origin }) => {
      const flow = await this.flowRecord(Number(trigger.target));
      const triggerTime = new Date(origin.firedFor);
      const instance = await this.createInstance(flow.data, {
        type: instanceTypes.periodic,
        owner: flow.data.creator,
        triggerTime,
        parameters: {},
        instanceId: `${flow.data.flowId}-${compactTime(triggerTime)}`,
      });
      return instance.instanceId;
    });
  }

  private now(): Date {
    return this.deps.now?.() ?? new Date();
  }

  // ------------------------------------------------------------ directories

  /** Every organisation has a root directory ("Workflow"); its id derives from the org. */
  rootDirId(orgId: string): string {
    return createHash('md5').update(`enos-root|${orgId}`).digest('hex');
  }

  private async directoryExists(orgId: string, dirId: string): Promise<boolean> {
    if (dirId === this.rootDirId(orgId)) return true;
    const dir = await this.deps.store.get<{ orgId: string }>({
      partition: `enos#dir#${dirId}`,
      sort: 'head',
    });
    return dir?.data.orgId === orgId;
  }

  async createDirectory(caller: EnosCaller, input: { parentId?: string; dirName?: string }) {
    const dirName = input.dirName?.trim() ?? '';
    const parentId = input.parentId?.trim() ?? '';
    if (!dirName) throw invalid('param: dirName cannot be empty', 'body.dirName');
    if (!parentId) throw invalid('param: parentId cannot be empty', 'body.parentId');
    if (!(await this.directoryExists(caller.orgId, parentId)))
      throw invalid('parentId not found', 'body.parentId');
    const dirId = randomUUID().replaceAll('-', '');
    try {
      await this.deps.store.create({
        key: { partition: `enos#dirname#${caller.orgId}#${parentId}`, sort: dirName },
        data: { dirId },
      });
    } catch (error) {
      if (isDomainErrorOf(error, 'conflict')) {
        throw invalid('A directory of the same name already exists', 'body.dirName');
      }
      throw error;
    }
    const now = this.now().toISOString();
    await this.deps.store.create({
      key: { partition: `enos#dir#${dirId}`, sort: 'head' },
      collection: { name: `enos#dirs#${caller.orgId}`, order: `${now}#${dirId}` },
      data: { dirId, orgId: caller.orgId, parentId, name: dirName, creator: caller.userId, createTime: now },
    });
    return { dirId };
  }

  /** The organisation's directory tree with the flows the caller may read, as listWorkFlowDirs shows it. */
  async listDirectories(caller: EnosCaller) {
    const dirs = await this.listAll<{ dirId: string; parentId: string; name: string }>(
      `enos#dirs#${caller.orgId}`,
    );
    const flows = (await this.listAll<EnosFlow>(`enos#flows#${caller.orgId}`)).filter(
      (flow) => this.rightsOf(flow, caller).read,
    );
    type Node = {
      title: string;
      key: string | number;
      type: number;
      isDirectory: boolean;
      editable?: boolean;
      children: Node[];
    };
    const nodeOf = (dirId: string, title: string): Node => ({
      title,
      key: dirId,
      type: 1,
      isDirectory: true,
      children: [
        ...dirs.filter((dir) => dir.parentId === dirId).map((dir) => nodeOf(dir.dirId, dir.name)),
        ...flows
          .filter((flow) => flow.dirId === dirId)
          .map((flow) => ({
            title: flow.flowName,
            key: flow.flowId,
            type: 1,
            isDirectory: false,
            editable: this.rightsOf(flow, caller).edit,
            children: [],
          })),
      ],
    });
    return [nodeOf(this.rootDirId(caller.orgId), 'Workflow')];
  }

  // ------------------------------------------------------------ flows

  private rightsOf(flow: EnosFlow, caller: EnosCaller): { read: boolean; edit: boolean } {
    const edit = caller.userId === flow.creator || flow.owners.includes(caller.userId);
    return { edit, read: edit || flow.visitors.includes(caller.userId) };
  }

  private async flowRecord(flowId: number): Promise<StoredItem<EnosFlow>> {
    const found = Number.isInteger(flowId)
      ? await this.deps.store.get<EnosFlow>({ partition: `enos#flow#${flowId}`, sort: 'head' })
      : undefined;
    if (!found) throw notFound(`Workflow ${flowId} does not exist`);
    return found;
  }

  /** The flow if the caller's organisation owns it (another org's is "not found") and the caller may `need` it. */
  private async flowFor(
    caller: EnosCaller,
    flowId: number,
    need: 'read' | 'edit',
  ): Promise<StoredItem<EnosFlow>> {
    const found = await this.flowRecord(flowId).catch(() => undefined);
    if (!found || found.data.orgId !== caller.orgId) throw notFound(`Workflow ${flowId} does not exist`);
    if (!this.rightsOf(found.data, caller)[need]) {
      throw forbidden(
        need === 'edit'
          ? `User ${caller.userId} may not change or run workflow ${flowId}: not its creator or one of its owners`
          : `User ${caller.userId} may not read workflow ${flowId}: not its creator, an owner or a visitor`,
      );
    }
    return found;
  }

  /**
   * import: validates everything first, then stores; if a later step fails,
   * what was stored is removed again (nothing half-imported).
   */
  async importFlow(
    caller: EnosCaller,
    input: { flowId?: number; flowName: string; desc?: string; dirId: string; flowJson: unknown },
  ): Promise<{ flowId: number }> {
    const flowName = input.flowName.trim();
    if (!(await this.directoryExists(caller.orgId, input.dirId))) {
      throw invalid('Directory does not exist', 'body.dirId');
    }
    const parsed = flowJsonSchema.safeParse(input.flowJson);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((issue) => ({
        path: ['flowJson', ...issue.path].join('.'),
        message: issue.message,
      }));
      const first = issues[0];
      throw validationFailed(`Workflow validation failed: ${first?.path}: ${first?.message}`, issues);
    }
    const flowJson = parsed.data;
    const schedule = flowJson.cron?.trim() ? flowJson.cron.trim() : undefined;
    // The schedule is checked before anything is stored or deployed.
    const scheduleStart = schedule && flowJson.startTime ? startOfDay(flowJson.startTime) : undefined;
    if (schedule) {
      try {
        parseSchedule(schedule, scheduleStart ? { start: scheduleStart } : {});
      } catch (error) {
        if (isDomainErrorOf(error, 'validation')) {
          throw invalid(`Workflow validation failed: cron: ${error.message}`, 'body.flowJson.cron');
        }
        throw error;
      }
    }

    const undo: (() => Promise<unknown>)[] = [];
    try {
      const nameKey = { partition: `enos#flowname#${caller.orgId}`, sort: flowName };
      try {
        await this.deps.store.create({ key: nameKey, data: { reserved: true } });
      } catch (error) {
        if (isDomainErrorOf(error, 'conflict')) {
          throw invalid('Workflow validation failed: Flow name must be unique', 'body.flowName');
        }
        throw error;
      }
      undo.push(() => this.deps.store.delete(nameKey));
      const flowId = await this.reserveFlowId(input.flowId);
      undo.push(() => this.deps.store.delete({ partition: `enos#flow#${flowId}`, sort: 'reserved' }));

      const taskIds = new Map<string, number>();
      for (const task of flowJson.tasks) {
        if (!taskIds.has(task.name))
          taskIds.set(task.name, await this.deps.store.nextSequence('enos#task', 100_001));
      }
      const translated = translateFlow(flowName, flowJson, (name) => taskIds.get(name) ?? 0);
      const engineFlowId = `enos-${flowId}`;
      const tenant = enosTenant(caller.orgId);
      try {
        await this.deps.flows.create(tenant, translated.descriptor, engineFlowId);
      } catch (error) {
        throw this.creationError(error);
      }
      undo.push(() => this.deps.flows.delete(tenant, engineFlowId));
      let triggerId: string | undefined;
      if (schedule) {
        const trigger = await this.deps.triggers
          .create({
            tenant,
            flowId: engineFlowId,
            starter: starterName,
            target: String(flowId),
            type: 'cron',
            cron: { expression: schedule, ...(scheduleStart ? { start: scheduleStart } : {}) },
            // Imported flows are paused, as EnOS imports them: `enable` turns the schedule on.
            enabled: false,
          })
          .catch((error: unknown) => {
            if (isDomainErrorOf(error, 'validation')) {
              throw invalid(`Workflow validation failed: cron: ${error.message}`, 'body.flowJson.cron');
            }
            throw error;
          });
        triggerId = trigger.id;
      }
      const now = this.now().toISOString();
      const flow: EnosFlow = {
        flowId,
        orgId: caller.orgId,
        flowName,
        desc: input.desc ?? flowJson.desc ?? '',
        dirId: input.dirId,
        flowJson: input.flowJson,
        engineFlowId,
        tasks: translated.tasks,
        parameters: translated.parameters,
        owners: splitUsers(flowJson.owners),
        visitors: splitUsers(flowJson.visitors),
        creator: caller.userId,
        updateUser: caller.userId,
        createTime: now,
        updateTime: now,
        ...(triggerId ? { triggerId } : {}),
      };
      for (const task of translated.tasks) {
        const taskKey = { partition: `enos#task#${task.taskId}`, sort: 'head' };
        await this.deps.store.create({
          key: taskKey,
          data: { flowId, canonical: task.canonical, name: task.name },
        });
        undo.push(() => this.deps.store.delete(taskKey));
      }
      const headKey = { partition: `enos#flow#${flowId}`, sort: 'head' };
      await this.deps.store.create({
        key: headKey,
        collection: { name: `enos#flows#${caller.orgId}`, order: `${now}#${flowId}` },
        data: flow,
      });
      undo.push(() => this.deps.store.delete(headKey));
      await this.deps.store.update({ key: nameKey, data: { flowId } }, 1);
      return { flowId };
    } catch (error) {
      for (const step of undo.reverse()) await step().catch(() => undefined);
      throw error;
    }
  }

  /** The requested id when it is free, otherwise the next free one of the sequence. */
  private async reserveFlowId(requested: number | undefined): Promise<number> {
    const claim = async (id: number) => {
      try {
        await this.deps.store.create({ key: { partition: `enos#flow#${id}`, sort: 'reserved' }, data: {} });
        return true;
      } catch (error) {
        if (isDomainErrorOf(error, 'conflict')) return false;
        throw error;
      }
    };
    if (requested !== undefined && (await claim(requested))) return requested;
    for (;;) {
      const id = await this.deps.store.nextSequence('enos#flow', 1001);
      if (await claim(id)) return id;
    }
  }

  /** A refusal of the engine as EnOS answers it: invalid flows 62102, a deployment without command tasks 62109. */
  private creationError(error: unknown): unknown {
    if (!(error instanceof DomainError) || error.kind !== 'validation') return error;
    if (error.message.startsWith('command tasks cannot run here')) {
      return new DomainError(
        'unavailable',
        'Workflow creating failed: command tasks are disabled in this deployment (locally SLUICE_COMMAND_TASKS, on AWS sluice:enableCommandTasks)',
      );
    }
    return validationFailed(
      `Workflow validation failed: ${error.message}`,
      error.issues.map((issue) => ({ ...issue, path: `flowJson.${issue.path}` })),
    );
  }

  /** export: the Flow structure as imported, under its name. */
  async exportFlow(caller: EnosCaller, flowId: number) {
    const flow = (await this.flowFor(caller, flowId, 'read')).data;
    return { ...(flow.flowJson as Record<string, unknown>), name: flow.flowName };
  }

  private async active(flow: EnosFlow): Promise<number> {
    if (!flow.triggerId) return 0;
    const trigger = await this.deps.triggers
      .get(enosTenant(flow.orgId), flow.triggerId)
      .catch(() => undefined);
    return trigger?.enabled ? 1 : 0;
  }

  private graphOf(flow: EnosFlow, runs?: Map<string, TaskRunRecord>, instanceSuffix?: string): string {
    const nodeOf = new Map(flow.tasks.map((task) => [task.name, `t_${task.taskId}`]));
    const descriptor = specOf(flow);
    return JSON.stringify({
      tasks: flow.tasks.map((task, index) => ({
        taskName: task.name,
        taskId: task.taskId,
        nodeId: `t_${task.taskId}`,
        x: 100 + 200 * index,
        y: 100,
        ...(instanceSuffix !== undefined
          ? {
              taskInstId: `${task.taskId}-${instanceSuffix}`,
              status: taskStatus[runs?.get(task.canonical)?.status ?? 'PENDING'],
            }
          : {}),
      })),
      flows: [],
      relations: descriptor.relations.map((relation) => ({
        source: nodeOf.get(relation.sourceTaskName ?? relation.source ?? '') ?? '',
        target: nodeOf.get(relation.targetTaskName ?? relation.target ?? '') ?? '',
        cycleGap: 'D0',
        rerun: relation.rerun ?? true,
      })),
    });
  }

  /** get: the FlowDetail structure. */
  async getFlow(caller: EnosCaller, flowId: number) {
    const flow = (await this.flowFor(caller, flowId, 'read')).data;
    const rights = this.rightsOf(flow, caller);
    const spec = specOf(flow);
    return {
      flowId: flow.flowId,
      flowName: flow.flowName,
      active: await this.active(flow),
      creator: flow.creator,
      createTime: `${enosTime(flow.createTime)}.0`,
      updateUser: flow.updateUser,
      updateTime: `${enosTime(flow.updateTime)}.0`,
      freq: cronOf(spec),
      cycle: spec.cycle ?? '',
      parameters: JSON.stringify(Object.entries(flow.parameters).map(([key, value]) => ({ key, value }))),
      owner: flow.owners.join(';'),
      visitor: flow.visitors.join(';'),
      doAs: flow.creator,
      alertMode: spec.alertMode ?? 0,
      alertTo: spec.alertTo ?? '',
      appId: spec.appId ?? '',
      graph: this.graphOf(flow),
      entry: 1,
      type: spec.type ?? (cronOf(spec) ? 1 : 0),
      syncType: spec.syncType ?? 0,
      desc: flow.desc,
      startTime: spec.startTime ?? '',
      virtual: 0,
      locked: 0,
      hasEditPri: rights.edit,
      hasReadPri: rights.read,
      isUserLocked: false,
      dirId: flow.dirId,
    };
  }

  private listAll<T>(collection: string): Promise<T[]> {
    return wholeCollection<T>(this.deps.store, collection);
  }

  private readableFlows = async (caller: EnosCaller) =>
    (await this.listAll<EnosFlow>(`enos#flows#${caller.orgId}`)).filter(
      (flow) => this.rightsOf(flow, caller).read,
    );

  /** getMyFlow: the caller's flows whose name contains `searchValue` (all without one). */
  async myFlows(caller: EnosCaller, searchValue?: string) {
    const needle = searchValue?.trim().toLowerCase() ?? '';
    return (await this.readableFlows(caller))
      .filter((flow) => flow.flowName.toLowerCase().includes(needle))
      .map((flow) => ({
        flowId: String(flow.flowId),
        editable: this.rightsOf(flow, caller).edit,
        flowName: flow.flowName,
        cycle: specOf(flow).cycle ?? '',
      }));
  }

  /** search: fuzzy name search (`expression`), paged and sorted. */
  async searchFlows(caller: EnosCaller, input: { expression?: string; pagination?: Pagination }) {
    const needle = input.expression?.trim().toLowerCase() ?? '';
    const matching = (await this.readableFlows(caller)).filter((flow) =>
      flow.flowName.toLowerCase().includes(needle),
    );
    const page = paginate(
      matching,
      input.pagination,
      (flow, field) =>
        field === 'updateTime'
          ? flow.updateTime
          : field === 'startTime'
            ? (specOf(flow).startTime ?? '')
            : flow.createTime,
      ['createTime', 'updateTime', 'startTime'],
    );
    return page.items.map((flow) => ({ flowId: String(flow.flowId), flowName: flow.flowName }));
  }

  /** delete: the flow, its schedule and its name; instances already started run to their end. */
  async deleteFlow(caller: EnosCaller, flowId: number): Promise<string> {
    const flow = (await this.flowFor(caller, flowId, 'edit')).data;
    const tenant = enosTenant(caller.orgId);
    await this.deps.flows.delete(tenant, flow.engineFlowId).catch((error: unknown) => {
      if (!isDomainErrorOf(error, 'not-found')) throw error;
    });
    await this.deps.store.delete({ partition: `enos#flow#${flowId}`, sort: 'head' });
    await this.deps.store.delete({ partition: `enos#flowname#${caller.orgId}`, sort: flow.flowName });
    return '';
  }

  /** enable / disable: turns the flow's schedule on or off. */
  async setEnabled(caller: EnosCaller, flowId: number, enabled: boolean): Promise<string> {
    const flow = (await this.flowFor(caller, flowId, 'edit')).data;
    if (!flow.triggerId) {
      throw invalid(
        `Workflow ${flowId} has no schedule to ${enabled ? 'enable' : 'disable'}: its flowJson has no cron`,
        'body.flowId',
      );
    }
    await this.deps.triggers.setEnabled(enosTenant(caller.orgId), flow.triggerId, enabled);
    return '';
  }

  // ------------------------------------------------------------ instances

  /** trigger / updateAndTrigger: a manual (or, with parameters, temporary) instance. */
  async trigger(
    caller: EnosCaller,
    input: { flowId: number; triggerTime?: number; parameters?: unknown },
  ): Promise<{ flowInstanceId: string }> {
    const flow = (await this.flowFor(caller, input.flowId, 'edit')).data;
    const overrides = input.parameters === undefined ? {} : this.parameterOverrides(input.parameters);
    const triggerTime = new Date(input.triggerTime ?? this.now().getTime());
    if (Number.isNaN(triggerTime.getTime()))
      throw invalid('triggerTime must be epoch milliseconds', 'body.triggerTime');
    const instance = await this.createInstance(flow, {
      type: input.parameters === undefined ? instanceTypes.manual : instanceTypes.temporary,
      owner: caller.userId,
      triggerTime,
      parameters: overrides,
      instanceId: `${flow.flowId}-${compactTime(triggerTime)}`,
    });
    return { flowInstanceId: instance.instanceId };
  }

  private parameterOverrides(value: unknown): Record<string, string> {
    try {
      return parametersOf(value);
    } catch (error) {
      if (error instanceof DomainError)
        throw invalid(error.message.replace(/^Workflow validation failed: /, ''), 'body.parameters');
      throw error;
    }
  }

  /**
   * Records an instance and queues it; it starts at once unless another
   * instance of the flow runs. `periodic` ids are a scheduled time's: an
   * existing periodic instance of that id is the answer (a redelivered firing),
   * completed if its first attempt stopped half-way. Otherwise (or when a
   * manual run holds the id) a suffix makes the id unique.
   */
  private async createInstance(
    flow: EnosFlow,
    options: {
      type: number;
      owner: string;
      triggerTime: Date;
      parameters: Record<string, string>;
      instanceId: string;
    },
  ): Promise<EnosInstance> {
    const now = this.now().toISOString();
    for (let attempt = 0; attempt <= 100; attempt += 1) {
      const instanceId = attempt === 0 ? options.instanceId : `${options.instanceId}-${attempt}`;
      const instance: EnosInstance = {
        instanceId,
        flowId: flow.flowId,
        orgId: flow.orgId,
        type: options.type,
        owner: options.owner,
        triggerTime: options.triggerTime.toISOString(),
        parameters: options.parameters,
        engineId: uuidFromKey(`enos|${instanceId}`),
        state: 'WAIT',
        queuedAs: `${now}#${instanceId}`,
        createTime: now,
        updateTime: now,
      };
      let current = instance;
      try {
        await this.deps.store.create({
          key: instanceKey(instanceId),
          collection: {
            name: `enos#instances#${flow.orgId}`,
            order: `${instance.triggerTime}#${instanceId}`,
          },
          data: instance,
        });
      } catch (error) {
        if (!isDomainErrorOf(error, 'conflict')) throw error;
        const existing = await this.deps.store.get<EnosInstance>(instanceKey(instanceId));
        if (
          !existing ||
          options.type !== instanceTypes.periodic ||
          existing.data.type !== instanceTypes.periodic
        ) {
          continue;
        }
        current = existing.data;
      }
      // Idempotent, so a redelivery completes what a first attempt left half-done.
      await createIfAbsent(this.deps.store, {
        key: { partition: `enos#engine#${current.engineId}`, sort: 'link' },
        data: { instanceId },
      });
      if (current.state === 'WAIT') {
        await createIfAbsent(this.deps.store, {
          key: queueKey(flow.flowId, current.queuedAs),
          data: { instanceId },
        });
      }
      await this.drain(flow.flowId);
      return current;
    }
    throw new Error(`No free instance id after ${options.instanceId}`);
  }

  /**
   * Starts the oldest queued instance of a flow if none of its instances
   * runs. The queue is a partition (strongly consistent reads), so an
   * instance queued as another ends is always seen by one of the two.
   */
  private async drain(flowId: number): Promise<void> {
    for (;;) {
      const queued = await this.deps.store.listPartition<{ instanceId: string }>(`enos#queue#${flowId}`, '', {
        limit: 1,
      });
      const next = queued.items[0];
      if (!next) return;
      const instanceId = next.data.instanceId;
      const waiting = (await this.deps.store.get<EnosInstance>(instanceKey(instanceId)))?.data;
      if (waiting?.state !== 'WAIT') {
        // Started or cancelled already (its entry outlived a crash): not a place in the queue.
        await this.deps.store.delete(next.key);
        continue;
      }
      if (!(await this.takeLock(flowId, instanceId))) return; // one runs (or another drain took it); its end drains
      // A cancel may have come first: then the lock goes on to the next one.
      const started = await this.transition(instanceId, ['WAIT'], 'STARTED');
      if (!started) {
        await this.releaseLock(flowId, instanceId);
        continue;
      }
      await this.deps.store.delete(next.key);
      await this.startInstance(started);
    }
  }

  /**
   * Takes the flow's run lock for `instanceId`: true only for the one call
   * that moved it to this instance. The lock item is never deleted, only
   * updated, so its version tells every holder apart (no ABA). A lock whose
   * holder can no longer end it is taken over (see holderIsStale).
   */
  private async takeLock(flowId: number, instanceId: string): Promise<boolean> {
    const taken = { instanceId, takenAt: this.now().toISOString() };
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const lock = await this.deps.store.get<RunLock>(lockKey(flowId));
      try {
        if (!lock) {
          await this.deps.store.create({ key: lockKey(flowId), data: taken });
          return true;
        }
        const holder = lock.data.instanceId;
        if (holder === instanceId) return false; // another drain took it for this instance
        if (holder !== null && !(await this.holderIsStale(holder, lock.data.takenAt))) return false;
        await this.deps.store.update({ key: lockKey(flowId), data: taken }, lock.version);
        return true;
      } catch (error) {
        if (!isDomainErrorOf(error, 'conflict')) throw error;
      }
    }
    return false;
  }

  /**
   * Whether the instance holding a run lock can no longer end it: gone,
   * cancelled or failed to start; its execution ended without the end being
   * handled; or stuck a minute before its execution existed (a crash between
   * taking the lock and starting: started again here, idempotently).
   */
  private async holderIsStale(instanceId: string, takenAt: string): Promise<boolean> {
    const holder = (await this.deps.store.get<EnosInstance>(instanceKey(instanceId)))?.data;
    if (!holder || holder.state === 'CANCEL' || holder.state === 'START_FAILED') return true;
    const old = this.now().getTime() - Date.parse(takenAt) > 60_000;
    if (holder.state === 'WAIT') return old;
    const execution = await this.deps.executions.find(enosTenant(holder.orgId), holder.engineId);
    if (execution) return execution.status !== 'RUNNING';
    if (!old) return false;
    await this.startInstance(holder);
    // Started now, or failed to (then it released the lock and gave way).
    const after = (await this.deps.store.get<EnosInstance>(instanceKey(instanceId)))?.data;
    return after?.state === 'START_FAILED';
  }

  /** Releases the flow's run lock if `instanceId` still holds it. */
  private async releaseLock(flowId: number, instanceId: string): Promise<void> {
    const lock = await this.deps.store.get<RunLock>(lockKey(flowId));
    if (lock?.data.instanceId !== instanceId) return;
    try {
      await this.deps.store.update(
        { key: lockKey(flowId), data: { instanceId: null, takenAt: this.now().toISOString() } },
        lock.version,
      );
    } catch (error) {
      if (!isDomainErrorOf(error, 'conflict')) throw error;
    }
  }

  private async startInstance(instance: EnosInstance): Promise<void> {
    try {
      const flow = (await this.flowRecord(instance.flowId)).data;
      await this.deps.executions.start(enosTenant(instance.orgId), flow.engineFlowId, {
        parameters: { ...flow.parameters, ...instance.parameters },
        executionId: instance.engineId,
      });
    } catch (error) {
      // The flow was deleted or the state machine did not start: the instance ends INTERNAL_ERROR.
      const reason = error instanceof Error ? error.message : String(error);
      await this.transition(instance.instanceId, ['STARTED'], 'START_FAILED', reason);
      await this.releaseLock(instance.flowId, instance.instanceId);
    }
  }

  /** Moves an instance from one of `from` to `to`; the new record, or undefined when it was in another state. */
  private async transition(
    instanceId: string,
    from: readonly InstanceState[],
    to: InstanceState,
    startError?: string,
  ): Promise<EnosInstance | undefined> {
    for (let attempt = 0; attempt < 25; attempt += 1) {
      const stored = await this.deps.store.get<EnosInstance>(instanceKey(instanceId));
      if (!stored || !from.includes(stored.data.state)) return undefined;
      const next: EnosInstance = {
        ...stored.data,
        state: to,
        updateTime: this.now().toISOString(),
        ...(startError ? { startError } : {}),
      };
      try {
        await this.deps.store.update(
          { key: stored.key, ...(stored.collection ? { collection: stored.collection } : {}), data: next },
          stored.version,
        );
        return next;
      } catch (error) {
        if (!isDomainErrorOf(error, 'conflict')) throw error;
      }
    }
    throw new Error(`Instance ${instanceId}: too much contention`);
  }

  /** An instance's execution ended: free its flow for the next queued instance. */
  private async instanceEnded(execution: ExecutionRecord): Promise<void> {
    if (!execution.tenant.startsWith('enos:')) return;
    const link = await this.deps.store.get<{ instanceId: string }>({
      partition: `enos#engine#${execution.id}`,
      sort: 'link',
    });
    if (!link) return;
    const instance = await this.deps.store.get<EnosInstance>(instanceKey(link.data.instanceId));
    if (!instance) return;
    await this.releaseLock(instance.data.flowId, instance.data.instanceId);
    await this.drain(instance.data.flowId);
  }

  private async instanceFor(caller: EnosCaller, instanceId: string) {
    const stored = await this.deps.store.get<EnosInstance>(instanceKey(instanceId.trim()));
    if (!stored || stored.data.orgId !== caller.orgId) throw notFound('Instance not found');
    const flow = await this.deps.store.get<EnosFlow>({
      partition: `enos#flow#${stored.data.flowId}`,
      sort: 'head',
    });
    // A deleted flow's instances stay readable by whoever started them.
    const allowed = flow ? this.rightsOf(flow.data, caller).read : stored.data.owner === caller.userId;
    if (!allowed) {
      throw forbidden(`User ${caller.userId} may not read instances of workflow ${stored.data.flowId}`);
    }
    return { instance: stored.data, flow: flow?.data };
  }

  private async statusOf(instance: EnosInstance): Promise<{ status: number; execution?: ExecutionRecord }> {
    if (instance.state === 'WAIT') return { status: instanceStatus.WAIT };
    if (instance.state === 'CANCEL') return { status: instanceStatus.CANCEL };
    if (instance.state === 'START_FAILED') return { status: instanceStatus.INTERNAL_ERROR };
    // One read of the execution record (searches call this for every candidate instance).
    const execution = await this.deps.executions.find(enosTenant(instance.orgId), instance.engineId);
    if (!execution) return { status: instanceStatus.INIT };
    switch (execution.status) {
      case 'RUNNING':
        return { status: instanceStatus.RUNNING, execution };
      case 'SUCCEEDED':
        return { status: instanceStatus.SUCCESS, execution };
      case 'STOPPED':
        return { status: instanceStatus.CANCEL, execution };
      case 'FAILED':
        return {
          status: execution.error?.error === 'States.Timeout' ? instanceStatus.TIMEOUT : instanceStatus.FAIL,
          execution,
        };
      default:
        return { status: instanceStatus.INIT, execution };
    }
  }

  private async instanceView(caller: EnosCaller, instance: EnosInstance, flow: EnosFlow | undefined) {
    const { status, execution } = await this.statusOf(instance);
    const runs = execution
      ? new Map(
          (await this.deps.executions.describe(enosTenant(instance.orgId), instance.engineId)).runs.map(
            (run) => [run.task, run],
          ),
        )
      : undefined;
    const rights = flow ? this.rightsOf(flow, caller) : { read: true, edit: false };
    const suffix = instance.instanceId.slice(String(instance.flowId).length + 1);
    const spec = flow ? specOf(flow) : undefined;
    return {
      instanceId: instance.instanceId,
      flowId: instance.flowId,
      flowName: flow?.flowName ?? '',
      freq: spec ? cronOf(spec) : '',
      cycle: spec?.cycle ?? '',
      parameters: JSON.stringify(
        Object.entries({ ...flow?.parameters, ...instance.parameters }).map(([key, value]) => ({
          key,
          value,
        })),
      ),
      doAs: flow?.creator ?? instance.owner,
      graph: flow ? this.graphOf(flow, runs, suffix) : '{}',
      status,
      statusDesc: statusName[status] ?? '',
      triggerTime: enosTime(instance.triggerTime),
      startTime: enosTime(execution?.startedAt),
      endTime: enosTime(execution?.endedAt),
      timestamp: Date.parse(instance.updateTime),
      virtual: 0,
      owner: instance.owner,
      alertMode: spec?.alertMode ?? 0,
      calDt: instance.triggerTime.slice(0, 10),
      hasEditPri: rights.edit,
      hasReadPri: rights.read,
      isCancelled: status === instanceStatus.CANCEL,
      type: instance.type,
    };
  }

  async getInstance(caller: EnosCaller, instanceId: string) {
    const { instance, flow } = await this.instanceFor(caller, instanceId);
    return this.instanceView(caller, instance, flow);
  }

  /** flowInstances search: filters, then EnOS statuses, then one page. */
  async searchInstances(
    caller: EnosCaller,
    input: {
      type?: number;
      expression?: string;
      owner?: string;
      fromTriggerTime?: number;
      toTriggerTime?: number;
      status?: number[];
      pagination?: Pagination;
    },
  ) {
    const flows = new Map((await this.readableFlows(caller)).map((flow) => [flow.flowId, flow]));
    const needle = input.expression?.trim().toLowerCase() ?? '';
    const candidates = (await this.listAll<EnosInstance>(`enos#instances#${caller.orgId}`)).filter(
      (instance) => {
        const flow = flows.get(instance.flowId);
        const at = Date.parse(instance.triggerTime);
        return (
          flow !== undefined &&
          (input.type === undefined || instance.type === input.type) &&
          (!input.owner || instance.owner === input.owner) &&
          (input.fromTriggerTime === undefined || at >= input.fromTriggerTime) &&
          (input.toTriggerTime === undefined || at <= input.toTriggerTime) &&
          (!needle || flow.flowName.toLowerCase().includes(needle) || instance.instanceId.includes(needle))
        );
      },
    );
    const withStatus = await Promise.all(
      candidates.map(async (instance) => ({ instance, ...(await this.statusOf(instance)) })),
    );
    const filtered = withStatus.filter(
      (entry) => !input.status?.length || input.status.includes(entry.status),
    );
    const page = paginate(
      filtered,
      input.pagination,
      (entry, field) =>
        field === 'createTime'
          ? entry.instance.createTime
          : field === 'updateTime'
            ? entry.instance.updateTime
            : field === 'startTime'
              ? (entry.execution?.startedAt ?? '')
              : field === 'endTime'
                ? (entry.execution?.endedAt ?? '')
                : entry.instance.triggerTime,
      sortFields,
      { field: 'triggerTime', order: 'DESC' },
    );
    return {
      flowInsts: await Promise.all(
        page.items.map((entry) =>
          this.instanceView(caller, entry.instance, flows.get(entry.instance.flowId)),
        ),
      ),
      count: filtered.length,
    };
  }

  /** cancel: a queued instance never starts; a running one is stopped. */
  async cancelInstance(caller: EnosCaller, instanceId: string): Promise<string> {
    const { instance, flow } = await this.instanceFor(caller, instanceId);
    if (flow ? !this.rightsOf(flow, caller).edit : instance.owner !== caller.userId) {
      throw forbidden(`User ${caller.userId} may not cancel instances of workflow ${instance.flowId}`);
    }
    if (await this.transition(instance.instanceId, ['WAIT'], 'CANCEL')) {
      await this.deps.store.delete(queueKey(instance.flowId, instance.queuedAs));
      return '';
    }
    // It started meanwhile (or earlier): stop its execution if it still runs.
    const current =
      (await this.deps.store.get<EnosInstance>(instanceKey(instance.instanceId)))?.data ?? instance;
    const { status } = await this.statusOf(current);
    if (status !== instanceStatus.RUNNING) {
      throw invalid(
        `Instance ${instance.instanceId} is ${statusName[status]}; only WAIT or RUNNING instances cancel`,
        'body.flowInstId',
      );
    }
    await this.deps.executions.stop(
      enosTenant(instance.orgId),
      instance.engineId,
      `Cancelled by ${caller.userId}`,
    );
    return '';
  }

  /** taskInstances getLog: the task's log lines (command output included), the last `maxLength` characters. */
  async taskLog(caller: EnosCaller, taskInstId: string, maxLength?: number) {
    const match = /^(\d+)-(.+)$/.exec(taskInstId.trim());
    const task = match
      ? await this.deps.store.get<{ flowId: number; canonical: string }>({
          partition: `enos#task#${match[1]}`,
          sort: 'head',
        })
      : undefined;
    if (!match || !task) throw notFound('Instance not found');
    const { instance } = await this.instanceFor(caller, `${task.data.flowId}-${match[2]}`);
    const lines: string[] = [];
    let cursor: string | undefined;
    if (instance.state === 'STARTED') {
      do {
        const page = await this.deps.executions.logs(
          enosTenant(instance.orgId),
          instance.engineId,
          { task: task.data.canonical },
          { limit: 1000, ...(cursor ? { cursor } : {}) },
        );
        lines.push(
          ...page.items.map((entry) => `${enosTime(entry.timestamp)} ${entry.level} ${entry.message}`),
        );
        cursor = page.cursor;
      } while (cursor);
    }
    if (lines.length === 0) throw new DomainError('unavailable', 'No log found');
    const log = lines.join('\n');
    return {
      log: maxLength !== undefined && log.length > maxLength ? log.slice(log.length - maxLength) : log,
    };
  }
}

const instanceKey = (id: string): ItemKey => ({ partition: `enos#instance#${id}`, sort: 'head' });
const lockKey = (flowId: number): ItemKey => ({ partition: `enos#flowrun#${flowId}`, sort: 'lock' });
/** Which instance of a flow runs (`null`: none). */
interface RunLock {
  instanceId: string | null;
  takenAt: string;
}
const queueKey = (flowId: number, queuedAs: string): ItemKey => ({
  partition: `enos#queue#${flowId}`,
  sort: queuedAs,
});

/** "2019-11-22" → the start of that day (UTC), the schedule's lower bound. */
function startOfDay(day: string): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day.trim())) {
    throw invalid(
      `Workflow validation failed: startTime "${day}" must be a date like 2019-11-22`,
      'body.flowJson.startTime',
    );
  }
  return `${day.trim()}T00:00:00Z`;
}

/** EnOS pagination: `pageNo` from 0, `pageSize`, and sorters over the allowed fields. */
function paginate<T>(
  items: T[],
  pagination: Pagination | undefined,
  sortValue: (item: T, field: string) => string,
  allowed: readonly string[],
  fallback: { field: string; order: string } = { field: 'createTime', order: 'DESC' },
): { items: T[] } {
  const sorters = pagination?.sorters?.length ? pagination.sorters : [fallback];
  for (const sorter of sorters) {
    if (!allowed.includes(sorter.field)) {
      throw invalid(
        `illegal sorted by field: ${sorter.field} (use ${allowed.join(', ')})`,
        'body.pagination.sorters',
      );
    }
  }
  const sorted = [...items].sort((a, b) => {
    for (const sorter of sorters) {
      const order = (sorter.order ?? 'ASC').toUpperCase() === 'DESC' ? -1 : 1;
      const left = sortValue(a, sorter.field);
      const right = sortValue(b, sorter.field);
      if (left !== right) return left < right ? -order : order;
    }
    return 0;
  });
  const pageSize = pagination?.pageSize ?? 100;
  const pageNo = pagination?.pageNo ?? 0;
  return { items: sorted.slice(pageNo * pageSize, (pageNo + 1) * pageSize) };
}
