import { dependencies } from '../composition/dependencies.ts';
import { ok } from '../http/results.ts';
import { routeHandler } from '../http/route-handler.ts';
import { routeById } from '../routes.ts';

export const handler = routeHandler(routeById('rillExecutionIds'), async ({ query }) => {
  const ids = await dependencies().rillFlow.listExecutionIds(query.service_id);
  const start = (query.page - 1) * query.count;
  return ok({ total: ids.length, execution_ids: ids.slice(start, start + query.count) });
});
