import { dependencies } from '../composition/dependencies.ts';
import type { JsonObject } from '../core/engine/json-path.ts';
import { ok } from '../http/results.ts';
import { routeHandler } from '../http/route-handler.ts';
import { tenantOf } from '../http/tenant.ts';
import { executionBody } from '../http/views.ts';
import { routeById } from '../routes.ts';

export const handler = routeHandler(routeById('rerunExecution'), async ({ path, body, headers }) => {
  const execution = await dependencies().engine.executions.rerun(tenantOf(headers), path.executionId, {
    ...(body.tasks ? { tasks: body.tasks } : {}),
    ...(body.parameters ? { context: body.parameters as JsonObject } : {}),
  });
  return ok(executionBody(execution), 201);
});
