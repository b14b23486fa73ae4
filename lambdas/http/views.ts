import type { ExecutionView } from '../core/engine/executions.ts';
import type { ExecutionRecord } from '../core/engine/records.ts';

/** The native API's view of an execution: public fields only (no state machine reference or tokens). */
export function executionBody(execution: ExecutionRecord, view?: ExecutionView) {
  const { stateMachine: _internal, tenant: _tenant, ...visible } = execution;
  if (!view) return visible;
  return {
    ...visible,
    progress: view.progress,
    tasks: view.runs.map(({ task, status, attempts, startedAt, endedAt, output, error }) => ({
      task,
      status,
      attempts,
      ...(startedAt ? { startedAt } : {}),
      ...(endedAt ? { endedAt } : {}),
      ...(output !== undefined ? { output } : {}),
      ...(error ? { error } : {}),
    })),
  };
}
