import { dependencies } from '../composition/dependencies.ts';
import { ok } from '../http/results.ts';
import { routeHandler } from '../http/route-handler.ts';
import { tenantOf } from '../http/tenant.ts';
import { executionBody } from '../http/views.ts';
import { routeById } from '../routes.ts';

export const handler = routeHandler(routeById('startExecution'), async ({ path, body, headers }) => {
  const execution = await dependencies().engine.executions.start(tenantOf(headers), path.flowId, {
    parameters: body.parameters,
    ...(body.executionId ? { executionId: body.executionId } : {}),
    ...(body.version ? { version: body.version } : {}),
  });
  return ok(executionBody(execution), 201);
});
