import { dependencies } from '../composition/dependencies.ts';
import { ok } from '../http/results.ts';
import { routeHandler } from '../http/route-handler.ts';
import { routeById } from '../routes.ts';

export const handler = routeHandler(routeById('rillDescriptorIds'), async ({ query }) => {
  const ids = await dependencies().rillFlow.listDescriptorIds();
  const start = (query.current - 1) * query.pageSize;
  return ok({ total: ids.length, descriptor_ids: ids.slice(start, start + query.pageSize) });
});
