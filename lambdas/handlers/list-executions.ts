import { dependencies } from '../composition/dependencies.ts';
import { ok } from '../http/results.ts';
import { routeHandler } from '../http/route-handler.ts';
import { tenantOf } from '../http/tenant.ts';
import { executionBody } from '../http/views.ts';
import { routeById } from '../routes.ts';

export const handler = routeHandler(routeById('listExecutions'), async ({ query, headers }) => {
  const { limit, cursor, ...filter } = query;
  const page = await dependencies().engine.executions.list(tenantOf(headers), filter, {
    limit,
    ...(cursor ? { cursor } : {}),
  });
  return ok({
    items: page.items.map((execution) => executionBody(execution)),
    ...(page.cursor ? { cursor: page.cursor } : {}),
  });
});
