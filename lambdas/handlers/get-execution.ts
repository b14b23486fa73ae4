import { dependencies } from '../composition/dependencies.ts';
import { ok } from '../http/results.ts';
import { routeHandler } from '../http/route-handler.ts';
import { tenantOf } from '../http/tenant.ts';
import { executionBody } from '../http/views.ts';
import { routeById } from '../routes.ts';

export const handler = routeHandler(routeById('getExecution'), async ({ path, headers }) => {
  const view = await dependencies().engine.executions.describe(tenantOf(headers), path.executionId);
  return ok(executionBody(view.execution, view));
});
