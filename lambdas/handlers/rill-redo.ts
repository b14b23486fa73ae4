import { dependencies } from '../composition/dependencies.ts';
import type { JsonObject } from '../core/engine/json-path.ts';
import { ok } from '../http/results.ts';
import { routeHandler } from '../http/route-handler.ts';
import { routeById } from '../routes.ts';

export const handler = routeHandler(routeById('rillRedo'), async ({ query, body }) =>
  ok(
    await dependencies().rillFlow.redo({
      executionId: query.execution_id,
      taskNames: query.task_names,
      context: (body ?? {}) as JsonObject,
    }),
  ),
);
