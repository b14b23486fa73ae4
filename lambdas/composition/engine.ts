import { ContextStore } from '../core/engine/context-store.ts';
import { ExecutionService } from '../core/engine/executions.ts';
import { FlowService } from '../core/engine/flows.ts';
import { EngineRecords } from '../core/engine/records.ts';
import { TaskRunner } from '../core/engine/runner.ts';
import type { FlowDescriptor } from '../core/flow/model.ts';
import { TriggerService } from '../core/triggers/service.ts';
import type { BlobStore } from '../ports/blob-store.ts';
import type { HttpCaller } from '../ports/http-caller.ts';
import type { MetadataStore } from '../ports/metadata-store.ts';
import type { AslDefinition, Orchestrator } from '../ports/orchestrator.ts';
import type { Scheduler } from '../ports/scheduler.ts';

export interface Engine {
  flows: FlowService;
  executions: ExecutionService;
  runner: TaskRunner;
  triggers: TriggerService;
}

/**
 * The engine's use cases over their ports; both composition roots build it,
 * each with its own orchestrator (Step Functions or the local interpreter).
 */
export function createEngine(ports: {
  store: MetadataStore;
  blobs: BlobStore;
  orchestrator: Orchestrator;
  scheduler: Scheduler;
  http: HttpCaller;
  compile: (descriptor: FlowDescriptor) => AslDefinition;
}): Engine {
  const records = new EngineRecords(ports.store);
  const contexts = new ContextStore(records, ports.blobs);
  const descriptors = new Map<string, Promise<FlowDescriptor>>();
  const executions = new ExecutionService({ records, contexts, orchestrator: ports.orchestrator });
  const flows = new FlowService({ records, orchestrator: ports.orchestrator, compile: ports.compile });
  const triggers = new TriggerService({
    records,
    executions,
    scheduler: ports.scheduler,
    bucket: ports.blobs.bucket,
  });
  // A deleted flow's triggers go with it: nothing would start it any more.
  flows.onDeleting((tenant, flowId) => triggers.cancelAll(tenant, flowId));
  return {
    flows,
    executions,
    triggers,
    runner: new TaskRunner({
      startChild: (parent, runName, flowId, input) => executions.createChild(parent, runName, flowId, input),
      records,
      contexts,
      orchestrator: ports.orchestrator,
      http: ports.http,
      // Flow versions are immutable, so a process may keep every descriptor it loaded.
      descriptorOf: (execution) => {
        const key = `${execution.flowId}@${execution.flowVersion}`;
        let descriptor = descriptors.get(key);
        if (!descriptor) {
          descriptor = records
            .getFlowVersion(execution.flowId, execution.flowVersion)
            .then((v) => v.descriptor);
          descriptor.catch(() => descriptors.delete(key));
          descriptors.set(key, descriptor);
        }
        return descriptor;
      },
    }),
  };
}
