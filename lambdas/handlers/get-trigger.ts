import { dependencies } from '../composition/dependencies.ts';
import { ok } from '../http/results.ts';
import { routeHandler } from '../http/route-handler.ts';
import { tenantOf } from '../http/tenant.ts';
import { triggerBody } from '../http/views.ts';
import { routeById } from '../routes.ts';

export const handler = routeHandler(routeById('getTrigger'), async ({ path, headers }) => {
  const { engine, blobs } = dependencies();
  return ok(triggerBody(await engine.triggers.get(tenantOf(headers), path.triggerId), blobs.bucket));
});
