import { dependencies } from '../composition/dependencies.ts';
import { ok } from '../http/results.ts';
import { routeHandler } from '../http/route-handler.ts';
import { tenantOf } from '../http/tenant.ts';
import { triggerBody } from '../http/views.ts';
import { routeById } from '../routes.ts';

export const handler = routeHandler(routeById('updateTrigger'), async ({ path, body, headers }) => {
  const { engine, blobs } = dependencies();
  const trigger = await engine.triggers.setEnabled(tenantOf(headers), path.triggerId, body.enabled);
  return ok(triggerBody(trigger, blobs.bucket));
});
