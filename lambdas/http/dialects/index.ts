import type { Dialect } from '../route.ts';
import { dataPipelineEnvelope } from './data-pipeline.ts';
import { dataflowEnvelope } from './dataflow.ts';
import { enosEnvelope } from './enos.ts';
import type { DialectEnvelope } from './envelope.ts';
import { flowEngineEnvelope } from './flow-engine.ts';
import { nativeEnvelope } from './native.ts';
import { rillFlowEnvelope } from './rill-flow.ts';

export const envelopes: Record<Dialect, DialectEnvelope> = {
  native: nativeEnvelope,
  dataflow: dataflowEnvelope,
  'data-pipeline': dataPipelineEnvelope,
  'flow-engine': flowEngineEnvelope,
  'rill-flow': rillFlowEnvelope,
  enos: enosEnvelope,
};
