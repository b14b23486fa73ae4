import { createHash, randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { HttpCaller } from '../../../ports/http-caller.ts';
import type { MetadataStore } from '../../../ports/metadata-store.ts';
import type { ExecutionService } from '../../engine/executions.ts';
import type { FlowService } from '../../engine/flows.ts';
import type { JsonObject } from '../../engine/json-path.ts';
import { mapInput } from '../../engine/mappings.ts';
import type { ExecutionRecord, TaskRunRecord } from '../../engine/records.ts';
import { DomainError, isDomainErrorOf, notFound, validationFailed } from '../../errors.ts';
import type { FlowDescriptor, Mapping, TriggerOrigin } from '../../flow/model.ts';
import { uuidFromKey } from '../../ids.ts';
import { createIfAbsent } from '../../stored-items.ts';
import type { TriggerService } from '../../triggers/service.ts';

/**
 * Rill Flow (seed 003) on the canonical engine. A descriptor id is
 * `business:feature[:alias|:md5_<hash>]`; every add stores a new version
 * (one version of one canonical flow) and points the alias at it. Execution
 * ids are Rill's `business:feature_c_<uuid>`, mapped to the engine's own ids.
 */

/** Every Rill Flow object lives in this tenant of the engine. */
export const rillTenant = 'rill-flow';

export interface TranslatedDescriptor {
  descriptor: FlowDescriptor;
  /** The YAML document as parsed, returned verbatim by get_descriptor. */
  document: unknown;
  workspace: string;
  dagName: string;
  /** The DAG-level `callback`: notified when an execution ends. */
  callback?: { url: string; fullContext: boolean; input: Mapping[] };
  /** Flows the descriptor's choice tasks run, to be stored before it (content-addressed ids). */
  children?: { flowId: string; descriptor: FlowDescriptor }[];
}

export interface RillFlowDependencies {
  store: MetadataStore;
  flows: FlowService;
  executions: ExecutionService;
  /** Parses and translates a YAML descriptor (lambdas/core/dialects/rill-flow/descriptor.ts). */
  translate: (yaml: string) => TranslatedDescriptor;
  /** Posts completion callbacks. */
  http: HttpCaller;
  triggers: TriggerService;
}

/** What a Rill trigger task submits: the descriptor id and callback it was added with. */
const triggerTarget = z.object({ descriptor_id: z.string(), callback: z.string().optional() });
const targetOf = (target: string) => triggerTarget.parse(JSON.parse(target));
const rillStarter = 'rill-flow';

interface DescriptorVersion {
  descriptorId: string;
  yaml: string;
  flowId: string;
  flowVersion: number;
  createdAt: string;
  /**
   * Kept from the translation at add time, so functions that only submit or
   * report (the trigger and event functions on AWS, which know no public URL
   * for task callbacks) never translate again. Absent in versions stored
   * before they were kept: those are translated on use.
   */
  document?: unknown;
  callback?: CompletionCallback | null;
}

/** Where and what to tell when an execution ends, fixed when it is submitted. */
interface CompletionCallback {
  url: string;
  fullContext: boolean;
  input: Mapping[];
}

interface ExecutionLink {
  rillId: string;
  engineId: string;
  descriptorId: string;
  callback?: CompletionCallback;
}

/** Rill Flow's DAG statuses, as get.json shows them. */
export type RillDagStatus = 'NOT_STARTED' | 'RUNNING' | 'SUCCEED' | 'FAILED';

const namePattern = /^[A-Za-z0-9_-]{1,100}$/;
/** The canonical flow holding every version of one Rill descriptor. */
export const rillFlowIdOf = (business: string, feature: string) => `rill-${business}-${feature}`;

export class RillFlowService {
  readonly deps: RillFlowDependencies;
  constructor(deps: RillFlowDependencies) {
    this.deps = deps;
    deps.executions.onEnded((execution) => this.notifyEnded(execution));
    // Trigger tasks submit as a client would, so their executions have Rill ids.
    deps.triggers.registerStarter(rillStarter, async ({ trigger, context, runKey, origin }) => {
      const target = targetOf(trigger.target);
      const { execution_id } = await this.submit({
        descriptorId: target.descriptor_id,
        context,
        ...(target.callback ? { callback: target.callback } : {}),
        runKey,
        trigger: origin,
      });
      return execution_id;
    });
  }

  /**
   * The DAG-level callback (submit's `callback`, else the descriptor's):
   * Rill Flow POSTs `{execution_id, dag_status, …}` when an execution ends.
   */
  private async notifyEnded(execution: ExecutionRecord): Promise<void> {
    if (execution.tenant !== rillTenant) return;
    const engineLink = await this.deps.store.get<{ rillId: string }>({
      partition: `rill#engine#${execution.id}`,
      sort: 'link',
    });
    if (!engineLink) return;
    const { callback, rillId, engineId } = await this.link(engineLink.data.rillId);
    // An execution a redo superseded: the DAG lives on in its successor.
    if (!callback || engineId !== execution.id) return;
    const context = await this.deps.executions.context(rillTenant, execution.id);
    const body: JsonObject = {
      ...(callback.input.length ? mapInput(context, callback.input) : {}),
      execution_id: rillId,
      dag_status: dagStatusOf(execution).toLowerCase(),
      ...(execution.error ? { error_info: { dag_invoke_info: execution.error } } : {}),
      ...(callback.fullContext ? { data: context } : {}),
    };
    // A notification, as Rill Flow sends it: once, best effort. A client's unreachable URL must not
    // make the engine redeliver the execution's end (which a failing hook does).
    await this.deps.http
      .call({ url: callback.url, method: 'POST', headers: {}, body, timeoutMs: 10_000 })
      .catch(() => undefined);
  }

  /** Parses `business:feature[:alias|:md5_…]`; the alias defaults to `release`. */
  private parseId(descriptorId: string): { business: string; feature: string; selector: string } {
    const [business = '', feature = '', selector = 'release', ...rest] = descriptorId.trim().split(':');
    if (!namePattern.test(business) || !namePattern.test(feature) || rest.length > 0) {
      throw validationFailed(`descriptor_id ${descriptorId} format error: expected business:feature[:alias]`);
    }
    return { business, feature, selector };
  }

  private aliasKey(business: string, feature: string, alias: string) {
    return { partition: `rill#descriptor#${business}:${feature}`, sort: `alias#${alias}` };
  }

  private versionKey(business: string, feature: string, md5: string) {
    return { partition: `rill#descriptor#${business}:${feature}`, sort: `md5#${md5}` };
  }

  /** add_descriptor.json: stores a new version and points the alias at it. */
  async addDescriptor(input: { businessId: string; featureName: string; alias: string; yaml: string }) {
    const translated = this.deps.translate(input.yaml);
    // The YAML's workspace/dagName name the descriptor (the seed's example submits workspace:dagName).
    const business = translated.workspace || input.businessId;
    const feature = translated.dagName || input.featureName;
    const alias = input.alias || 'release';
    for (const [field, value] of [
      ['business_id', business],
      ['feature_name', feature],
      ['alias', alias],
    ] as const) {
      if (!namePattern.test(value))
        throw validationFailed(`${field} "${value}" must use letters, digits, "_" and "-"`);
    }
    for (const child of translated.children ?? []) {
      const stored = await this.deps.flows.get(rillTenant, child.flowId).then(
        () => true,
        (error: unknown) => {
          if (isDomainErrorOf(error, 'not-found')) return false;
          throw error;
        },
      );
      if (!stored) {
        // Content-addressed: another add storing the same flow at the same moment is as good.
        await this.deps.flows.create(rillTenant, child.descriptor, child.flowId).catch((error: unknown) => {
          if (!isDomainErrorOf(error, 'conflict')) throw error;
        });
      }
    }
    const flowId = rillFlowIdOf(business, feature);
    const flow = (await this.deps.flows.get(rillTenant, flowId).then(
      () => true,
      (error: unknown) => {
        if (isDomainErrorOf(error, 'not-found')) return false;
        throw error;
      },
    ))
      ? await this.deps.flows.update(rillTenant, flowId, translated.descriptor)
      : await this.deps.flows.create(rillTenant, translated.descriptor, flowId);
    const md5 = createHash('md5').update(input.yaml).digest('hex');
    const descriptorId = `${business}:${feature}:md5_${md5}`;
    const version: DescriptorVersion = {
      descriptorId,
      yaml: input.yaml,
      flowId,
      flowVersion: flow.version,
      createdAt: new Date().toISOString(),
      document: translated.document,
      callback: translated.callback ?? null,
    };
    await this.put(
      this.versionKey(business, feature, md5),
      version,
      `rill#descriptors`,
      `${business}:${feature}`,
    );
    await this.put(this.aliasKey(business, feature, alias), { md5 });
    return { ret: true, descriptor_id: descriptorId };
  }

  private async put(
    key: { partition: string; sort: string },
    data: unknown,
    collection?: string,
    order?: string,
  ): Promise<void> {
    const current = await this.deps.store.get(key);
    const item = { key, data, ...(collection && order ? { collection: { name: collection, order } } : {}) };
    if (current) await this.deps.store.update(item, current.version);
    else await this.deps.store.create(item);
  }

  /** The stored version a descriptor id (with alias or md5) points at. */
  async resolve(descriptorId: string): Promise<DescriptorVersion> {
    const { business, feature, selector } = this.parseId(descriptorId);
    let md5 = selector.startsWith('md5_') ? selector.slice(4) : undefined;
    if (!md5) {
      const alias = await this.deps.store.get<{ md5: string }>(this.aliasKey(business, feature, selector));
      md5 = alias?.data.md5;
    }
    const version = md5
      ? await this.deps.store.get<DescriptorVersion>(this.versionKey(business, feature, md5))
      : undefined;
    if (!version) throw notFound(`descriptor ${descriptorId} does not exist`);
    return version.data;
  }

  private translated(version: DescriptorVersion): { document: unknown; callback?: CompletionCallback } {
    if (version.document === undefined || version.callback === undefined) {
      return this.deps.translate(version.yaml);
    }
    return { document: version.document, ...(version.callback ? { callback: version.callback } : {}) };
  }

  async getDescriptor(descriptorId: string) {
    const version = await this.resolve(descriptorId);
    return { descriptor_id: descriptorId, uid: '0', descriptor: version.yaml };
  }

  /** Descriptor ids (business:feature) known, newest first. */
  async listDescriptorIds(): Promise<string[]> {
    const page = await this.deps.store.listCollection<DescriptorVersion>('rill#descriptors', {
      limit: 1000,
      descending: true,
    });
    return [...new Set(page.items.map((item) => item.collection?.order ?? ''))].filter(Boolean);
  }

  /**
   * submit.json: starts the descriptor's flow version with the body as its
   * context. A trigger passes `runKey`: the ids derive from it, so a repeated
   * firing finds the execution it started instead of starting another.
   */
  async submit(input: {
    descriptorId: string;
    context: JsonObject;
    callback?: string;
    runKey?: string;
    trigger?: TriggerOrigin;
  }) {
    const version = await this.resolve(input.descriptorId);
    const { business, feature } = this.parseId(input.descriptorId);
    const rillId = `${business}:${feature}_c_${input.runKey ? uuidFromKey(`rill|${input.runKey}`) : randomUUID()}`;
    const engineId = input.runKey ? uuidFromKey(`engine|${input.runKey}`) : randomUUID();
    const declared = this.translated(version).callback;
    const url = input.callback ?? declared?.url;
    const link: ExecutionLink = {
      rillId,
      engineId,
      descriptorId: version.descriptorId,
      ...(url
        ? { callback: { url, fullContext: declared?.fullContext ?? false, input: declared?.input ?? [] } }
        : {}),
    };
    await createIfAbsent(this.deps.store, {
      key: { partition: `rill#engine#${engineId}`, sort: 'link' },
      data: { rillId },
    });
    await createIfAbsent(this.deps.store, {
      key: { partition: `rill#execution#${rillId}`, sort: 'link' },
      collection: {
        name: `rill#executions#${business}:${feature}`,
        order: `${new Date().toISOString()}#${rillId}`,
      },
      data: link,
    });
    await this.deps.executions.start(rillTenant, version.flowId, {
      parameters: input.context,
      executionId: engineId,
      version: version.flowVersion,
      ...(input.trigger ? { trigger: input.trigger } : {}),
    });
    return { execution_id: rillId };
  }

  /**
   * add_trigger.json: `cron` (body `{cron, context}`, Rill's 6-field cron or
   * any syntax of the schedule model) or `s3` (body `{prefix, suffix, context}`).
   * Refused input is answered in the family's own shape, `{code: -1, err_msg}`.
   */
  async addTrigger(input: {
    type: 'cron' | 's3';
    descriptorId: string;
    callback?: string;
    body: JsonObject;
  }): Promise<JsonObject> {
    try {
      const version = await this.resolve(input.descriptorId);
      const context = input.body.context ?? {};
      if (typeof context !== 'object' || context === null || Array.isArray(context)) {
        throw validationFailed('context must be a JSON object');
      }
      const common = {
        tenant: rillTenant,
        flowId: version.flowId,
        starter: rillStarter,
        target: JSON.stringify({
          descriptor_id: input.descriptorId.trim(),
          ...(input.callback ? { callback: input.callback } : {}),
        }),
        context: context as JsonObject,
      };
      const text = (field: string): string | undefined => {
        const value = input.body[field];
        if (value === undefined || value === null) return undefined;
        if (typeof value !== 'string') throw validationFailed(`${field} must be a string`);
        return value;
      };
      // Rill Flow numbers trigger tasks 1, 2, 3…
      const id = String(await this.deps.store.nextSequence('rill#trigger'));
      if (input.type === 'cron') {
        const cron = text('cron');
        if (!cron) throw validationFailed('cron is required in the body, e.g. {"cron": "0 * * * * *"}');
        const timezone = text('timezone');
        await this.deps.triggers.create({
          ...common,
          id,
          type: 'cron',
          cron: { expression: cron, ...(timezone ? { timezone } : {}) },
        });
      } else {
        const suffix = text('suffix');
        await this.deps.triggers.create({
          ...common,
          id,
          type: 's3',
          s3: { prefix: text('prefix') ?? '', ...(suffix ? { suffix } : {}) },
        });
      }
      return { code: 0, data: { task_id: id } };
    } catch (error) {
      if (error instanceof DomainError && (error.kind === 'validation' || error.kind === 'not-found')) {
        return { code: -1, err_msg: error.message };
      }
      throw error;
    }
  }

  /** cancel_trigger.json: `{code: 0}`, or `{code: -1, message}` for an unknown task of that type. */
  async cancelTrigger(input: { type: 'cron' | 's3'; taskId: string }): Promise<JsonObject> {
    const trigger = await this.deps.triggers.get(rillTenant, input.taskId.trim()).catch((error: unknown) => {
      if (isDomainErrorOf(error, 'not-found')) return undefined;
      throw error;
    });
    if (!trigger || trigger.type !== input.type) {
      return { code: -1, message: `${input.type} trigger task ${input.taskId} does not exist` };
    }
    await this.deps.triggers.cancel(rillTenant, trigger.id);
    return { code: 0 };
  }

  /** get_trigger_tasks.json: the tasks of one type, keyed by task id, each as it was added. */
  async getTriggerTasks(type: 'cron' | 's3'): Promise<JsonObject> {
    const triggers = await this.deps.triggers.list(rillTenant, { type });
    const data: JsonObject = {};
    for (const trigger of triggers) {
      const target = targetOf(trigger.target);
      data[trigger.id] = {
        ...(trigger.cron ? { cron: trigger.cron.expression, timezone: trigger.cron.timezone } : {}),
        ...(trigger.s3
          ? { prefix: trigger.s3.prefix, ...(trigger.s3.suffix ? { suffix: trigger.s3.suffix } : {}) }
          : {}),
        context: trigger.context,
        descriptor_id: target.descriptor_id,
        ...(target.callback ? { callback: target.callback } : {}),
      };
    }
    return { code: 0, data };
  }

  private async link(executionId: string): Promise<ExecutionLink> {
    const found = await this.deps.store.get<ExecutionLink>({
      partition: `rill#execution#${executionId.trim()}`,
      sort: 'link',
    });
    if (!found) throw notFound(`execution ${executionId} does not exist`);
    return found.data;
  }

  async listExecutionIds(descriptorId: string): Promise<string[]> {
    const { business, feature } = this.parseId(descriptorId);
    const page = await this.deps.store.listCollection<ExecutionLink>(
      `rill#executions#${business}:${feature}`,
      {
        limit: 1000,
        descending: true,
      },
    );
    return page.items.map((item) => item.data.rillId);
  }

  /** get.json: the execution as Rill Flow reports it. */
  async get(executionId: string, brief: boolean) {
    const link = await this.link(executionId);
    // Submitted but not yet started (its id is known a moment before its execution is): NOT_STARTED.
    const view = await this.deps.executions.describe(rillTenant, link.engineId).catch((error: unknown) => {
      if (isDomainErrorOf(error, 'not-found')) return undefined;
      throw error;
    });
    const version = await this.resolve(link.descriptorId);
    const document = this.translated(version).document as { tasks?: Array<Record<string, unknown>> };
    const runs = new Map((view?.runs ?? []).map((run) => [run.task, run]));
    const ret: Record<string, unknown> = {
      execution_id: link.rillId,
      dag_status: view ? dagStatusOf(view.execution) : 'NOT_STARTED',
      process: view?.progress ?? 0,
    };
    if (!brief) {
      ret.tasks = Object.fromEntries(
        (document.tasks ?? []).map((task) => {
          const name = String(task.name);
          return [
            name,
            {
              contains_sub: task.category === 'foreach' || task.category === 'choice',
              name,
              next: nextOf(task.next),
              status: taskStatusOf(runs.get(name)),
              task,
            },
          ];
        }),
      );
    }
    return { ret };
  }

  async getContext(executionId: string) {
    const link = await this.link(executionId);
    return {
      execution_id: link.rillId,
      context: await this.deps.executions.context(rillTenant, link.engineId),
    };
  }

  /**
   * finish.json: completes an async (task_async) task. `result_type` other
   * than SUCCESS fails it. The output is `response` when the body has one (the
   * seed's form), else the body itself (what Rill executors post back).
   */
  async finish(input: { executionId: string; taskName: string; body: JsonObject }) {
    const engineId = await this.engineIdOf(input.executionId);
    const run = await this.waitingRun(engineId, input.taskName);
    if (!run.token) return { result: 'ok' };
    const resultType = String(input.body.result_type ?? 'SUCCESS').toUpperCase();
    const { result_type: _type, passthrough: _passthrough, response: wrapped, ...rest } = input.body;
    const response = (typeof wrapped === 'object' && wrapped !== null ? wrapped : rest) as JsonObject;
    if (resultType !== 'SUCCESS') {
      // Step Functions takes causes up to 32,768 characters.
      await this.deps.executions.failToken(
        run.token,
        'RillFlow.TaskFailed',
        JSON.stringify(response).slice(0, 32_000),
      );
    } else {
      await this.deps.executions.completeToken(run.token, response);
    }
    return { result: 'ok' };
  }

  /**
   * redo.json: runs the named tasks (default: those that started but did not
   * succeed) and everything downstream again, keeping the other tasks'
   * results; the body is merged into the context. The Rill execution id stays;
   * it now follows a new engine execution.
   */
  async redo(input: { executionId: string; taskNames: string[]; context: JsonObject }) {
    const link = await this.link(input.executionId);
    const engineId = randomUUID();
    const key = { partition: `rill#execution#${link.rillId}`, sort: 'link' };
    const repoint = async (from: string, to: string) => {
      const stored = await this.deps.store.get<ExecutionLink>(key);
      if (!stored) throw notFound(`execution ${input.executionId} does not exist`);
      // Another redo moved it first: this one must not take it over.
      if (stored.data.engineId !== from) {
        throw new DomainError('conflict', `execution ${input.executionId} is being redone already`);
      }
      await this.deps.store.update(
        {
          key,
          data: { ...stored.data, engineId: to },
          ...(stored.collection ? { collection: stored.collection } : {}),
        },
        stored.version,
      );
    };
    await this.deps.store.create({
      key: { partition: `rill#engine#${engineId}`, sort: 'link' },
      data: { rillId: link.rillId },
    });
    // Linked first: the superseded execution's end must not fire the DAG callback.
    await repoint(link.engineId, engineId);
    try {
      await this.deps.executions.rerun(rillTenant, link.engineId, {
        tasks: input.taskNames,
        context: input.context,
        executionId: engineId,
      });
    } catch (error) {
      // Refused before the new execution existed: the DAG stays the one it was.
      if (!(await this.deps.executions.find(rillTenant, engineId))) await repoint(engineId, link.engineId);
      throw error;
    }
    return { result: 'ok' };
  }

  /** wakeup.json: wakes a suspense task with the body merged as its output. */
  async wakeup(input: { executionId: string; taskName: string; body: JsonObject }) {
    const engineId = await this.engineIdOf(input.executionId);
    const run = await this.waitingRun(engineId, input.taskName);
    if (run.token) await this.deps.executions.completeToken(run.token, input.body);
    return { result: 'ok' };
  }

  /** The async task's callback URL carries the engine's id; a client may also quote Rill's. */
  private async engineIdOf(executionId: string): Promise<string> {
    const id = executionId.trim();
    if (id.includes(':')) return (await this.link(id)).engineId;
    return id;
  }

  private async waitingRun(engineId: string, taskName: string): Promise<TaskRunRecord> {
    const { runs } = await this.deps.executions.describe(rillTenant, engineId);
    const run = runs.find((candidate) => candidate.task === taskName.trim());
    if (!run) throw notFound(`task ${taskName} of execution ${engineId} does not exist or has not started`);
    if (run.status !== 'WAITING') {
      throw new DomainError('conflict', `task ${taskName} is ${run.status}, not waiting for a callback`);
    }
    return run;
  }
}

const nextOf = (next: unknown): string[] =>
  typeof next === 'string'
    ? next
        .split(',')
        .map((name) => name.trim())
        .filter(Boolean)
    : Array.isArray(next)
      ? next.map(String)
      : [];

function dagStatusOf(execution: ExecutionRecord): RillDagStatus {
  switch (execution.status) {
    case 'SUCCEEDED':
      return 'SUCCEED';
    case 'FAILED':
    case 'STOPPED':
      return 'FAILED';
    case 'PENDING':
      return 'NOT_STARTED';
    default:
      return 'RUNNING';
  }
}

function taskStatusOf(run: TaskRunRecord | undefined): string {
  if (!run) return 'NOT_STARTED';
  switch (run.status) {
    case 'PENDING':
      return 'NOT_STARTED';
    case 'SUCCEEDED':
      return 'SUCCEED';
    case 'WAITING':
    case 'RUNNING':
      return 'RUNNING';
    default:
      return run.status;
  }
}

/** Rill Flow's sample executors, so the seed's example descriptor runs against Sluice itself. */
export const rillSamples = {
  startNode: (input: { left?: unknown; right?: unknown }) => ({
    result_number: Number(input.left ?? 0) + Number(input.right ?? 0),
  }),
  endNode: (input: { result_number?: unknown; expect_number?: unknown }) => ({
    result: Number(input.result_number) === Number(input.expect_number),
    result_number: input.result_number,
    expect_number: input.expect_number,
  }),
};
