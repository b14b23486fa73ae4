import { dependencies } from '../composition/dependencies.ts';
import { raw } from '../http/results.ts';
import { routeHandler } from '../http/route-handler.ts';
import { tenantOf } from '../http/tenant.ts';
import { routeById } from '../routes.ts';

export const handler = routeHandler(routeById('deleteTrigger'), async ({ path, headers }) => {
  await dependencies().engine.triggers.cancel(tenantOf(headers), path.triggerId);
  return raw('', 'application/json', { status: 204 });
});
