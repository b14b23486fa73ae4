import { dependencies } from '../composition/dependencies.ts';
import { raw } from '../http/results.ts';
import { routeHandler } from '../http/route-handler.ts';
import { tenantOf } from '../http/tenant.ts';
import { routeById } from '../routes.ts';

export const handler = routeHandler(routeById('deleteFlow'), async ({ path, headers }) => {
  await dependencies().engine.flows.delete(tenantOf(headers), path.flowId);
  return raw('', 'application/json', { status: 204 });
});
