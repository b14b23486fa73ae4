import { dependencies } from '../composition/dependencies.ts';
import { ok } from '../http/results.ts';
import { routeHandler } from '../http/route-handler.ts';
import { tenantOf } from '../http/tenant.ts';
import { triggerBody } from '../http/views.ts';
import { routeById } from '../routes.ts';

export const handler = routeHandler(routeById('listTriggers'), async ({ path, headers }) => {
  const { engine, blobs } = dependencies();
  const triggers = await engine.triggers.list(tenantOf(headers), { flowId: path.flowId });
  return ok({ items: triggers.map((trigger) => triggerBody(trigger, blobs.bucket)) });
});
