import { dependencies } from '../composition/dependencies.ts';
import { ok } from '../http/results.ts';
import { routeHandler } from '../http/route-handler.ts';
import { tenantOf } from '../http/tenant.ts';
import { routeById } from '../routes.ts';

export const handler = routeHandler(routeById('getExecutionLogs'), async ({ path, query, headers }) => {
  const { limit, cursor, ...filter } = query;
  const page = await dependencies().engine.executions.logs(tenantOf(headers), path.executionId, filter, {
    limit,
    ...(cursor ? { cursor } : {}),
  });
  return ok({
    items: page.items.map(({ executionId: _execution, ...entry }) => entry),
    ...(page.cursor ? { cursor: page.cursor } : {}),
  });
});
