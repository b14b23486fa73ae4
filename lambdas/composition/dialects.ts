import { FetchHttpCaller } from '../adapters/fetch-http-caller.ts';
import { EnosService } from '../core/dialects/enos/service.ts';
import { parseRillDescriptor } from '../core/dialects/rill-flow/descriptor.ts';
import { RillFlowService, rillFlowIdOf } from '../core/dialects/rill-flow/service.ts';
import type { MetadataStore } from '../ports/metadata-store.ts';
import type { Engine } from './engine.ts';

/**
 * The dialect services over the engine; both composition roots build them.
 * `publicUrl` is where this deployment's API answers (for callback URLs
 * handed to executors), read when a descriptor is translated.
 */
export function createRillFlow(
  store: MetadataStore,
  engine: Engine,
  publicUrl: () => string,
): RillFlowService {
  return new RillFlowService({
    store,
    flows: engine.flows,
    executions: engine.executions,
    triggers: engine.triggers,
    http: new FetchHttpCaller(),
    translate: (yaml) =>
      parseRillDescriptor(yaml, {
        callbackUrl: ({ executionId, task }) =>
          `${publicUrl()}/flow/finish.json?executionId=${executionId}&taskName=${task}`,
        subflowFlowId: (descriptorId) => {
          const [business = '', feature = ''] = descriptorId.split(':');
          return rillFlowIdOf(business, feature);
        },
      }),
  });
}

/** EnOS batch processing over the engine (both composition roots). */
export function createEnos(store: MetadataStore, engine: Engine): EnosService {
  return new EnosService({
    store,
    flows: engine.flows,
    executions: engine.executions,
    triggers: engine.triggers,
  });
}
