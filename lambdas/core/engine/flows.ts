import { createHash, randomUUID } from 'node:crypto';
import type { Page, PageRequest } from '../../ports/metadata-store.ts';
import type { AslDefinition, Orchestrator, StateMachineRef } from '../../ports/orchestrator.ts';
import { notFound, validationFailed } from '../errors.ts';
import { type Flow, type FlowDescriptor, flowDescriptorSchema } from '../flow/model.ts';
import { validateFlow } from '../flow/validate.ts';
import type { EngineRecords, FlowHead } from './records.ts';

export interface FlowServiceDependencies {
  records: EngineRecords;
  orchestrator: Orchestrator;
  /** The compiler (statemachines/compile.ts), bound to this deployment's resource names. */
  compile: (descriptor: FlowDescriptor) => AslDefinition;
  now?: () => Date;
  newId?: () => string;
}

/**
 * Step Functions names allow [A-Za-z0-9-_] (80 characters at most): a
 * readable head of the flow id, a hash of all of it (so long ids never
 * collide) and the version (so versions never overwrite each other).
 */
export const stateMachineName = (flowId: string, version: number) =>
  `sluice-${flowId.slice(0, 40).replace(/[^A-Za-z0-9_-]/g, '-')}-${createHash('sha256').update(flowId).digest('hex').slice(0, 8)}-v${version}`;

/** Parses a descriptor with the model's schema, answering every problem as a validation error. */
export function parseDescriptor(document: unknown): FlowDescriptor {
  const parsed = flowDescriptorSchema.safeParse(document);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => ({
      path: issue.path.map(String).join('.'),
      message: issue.message,
    }));
    const first = issues[0];
    throw validationFailed(first ? `Invalid flow: ${first.path}: ${first.message}` : 'Invalid flow', issues);
  }
  validateFlow(parsed.data);
  return parsed.data;
}

/**
 * Flow use cases: every version of a flow is validated, compiled to its own
 * state machine and deployed before anything is stored, so a stored version
 * always has a runnable state machine and a refused one leaves nothing behind.
 */
export class FlowService {
  readonly deps: FlowServiceDependencies;
  private readonly deletingHooks: ((tenant: string, flowId: string) => Promise<unknown>)[] = [];
  constructor(deps: FlowServiceDependencies) {
    this.deps = deps;
  }

  private now() {
    return (this.deps.now?.() ?? new Date()).toISOString();
  }

  /** Validates and compiles without storing anything. */
  validate(document: unknown): { descriptor: FlowDescriptor; definition: AslDefinition } {
    const descriptor = parseDescriptor(document);
    return { descriptor, definition: this.deps.compile(descriptor) };
  }

  async create(tenant: string, document: unknown, id?: string): Promise<Flow> {
    const { descriptor, definition } = this.validate(document);
    const flowId = id ?? this.deps.newId?.() ?? randomUUID();
    const stateMachine = await this.deps.orchestrator.deploy(stateMachineName(flowId, 1), definition);
    const createdAt = this.now();
    await this.deps.records.createFlow(
      { id: flowId, tenant, name: descriptor.name, latestVersion: 1, createdAt },
      { flowId, version: 1, descriptor, stateMachine, createdAt },
    );
    return { id: flowId, version: 1, tenant, descriptor, createdAt, updatedAt: createdAt };
  }

  /** Stores a new version; executions already running keep theirs. */
  async update(tenant: string, id: string, document: unknown): Promise<Flow> {
    const head = await this.deps.records.getFlowHead(id);
    if (!head || head.data.tenant !== tenant) throw notFound(`Flow ${id} does not exist`);
    const { descriptor, definition } = this.validate(document);
    const version = head.data.latestVersion + 1;
    const stateMachine = await this.deps.orchestrator.deploy(stateMachineName(id, version), definition);
    const createdAt = this.now();
    await this.deps.records.addFlowVersion(head, {
      flowId: id,
      version,
      descriptor,
      stateMachine,
      createdAt,
    });
    return { id, version, tenant, descriptor, createdAt: head.data.createdAt, updatedAt: createdAt };
  }

  async get(tenant: string, id: string, version?: number): Promise<Flow> {
    const head = await this.deps.records.getFlowHead(id);
    if (!head || head.data.tenant !== tenant) throw notFound(`Flow ${id} does not exist`);
    const stored = await this.deps.records.getFlowVersion(id, version ?? head.data.latestVersion);
    return {
      id,
      version: stored.version,
      tenant,
      descriptor: stored.descriptor,
      createdAt: head.data.createdAt,
      updatedAt: stored.createdAt,
    };
  }

  /** The generated Amazon States Language definition of a flow version. */
  async definition(tenant: string, id: string, version?: number): Promise<AslDefinition> {
    return this.deps.compile((await this.get(tenant, id, version)).descriptor);
  }

  /** Deploys a stored version's state machine again (a restarted local orchestrator has none). */
  async redeploy(flowId: string, version: number): Promise<StateMachineRef> {
    const stored = await this.deps.records.getFlowVersion(flowId, version);
    return this.deps.orchestrator.deploy(
      stateMachineName(flowId, version),
      this.deps.compile(stored.descriptor),
    );
  }

  async list(tenant: string, page: PageRequest): Promise<Page<FlowHead>> {
    const result = await this.deps.records.listFlows(tenant, page);
    return {
      items: result.items.map((item) => item.data),
      ...(result.cursor ? { cursor: result.cursor } : {}),
    };
  }

  /** Told before a flow is deleted (its triggers are cancelled). */
  onDeleting(hook: (tenant: string, flowId: string) => Promise<unknown>): void {
    this.deletingHooks.push(hook);
  }

  async delete(tenant: string, id: string): Promise<void> {
    const head = await this.deps.records.getFlowHead(id);
    if (!head || head.data.tenant !== tenant) throw notFound(`Flow ${id} does not exist`);
    for (const hook of this.deletingHooks) await hook(tenant, id);
    await this.deps.records.deleteFlow(id);
  }
}
