import { dependencies } from '../composition/dependencies.ts';
import { ok } from '../http/results.ts';
import { routeHandler } from '../http/route-handler.ts';
import { tenantOf } from '../http/tenant.ts';
import { routeById } from '../routes.ts';

export const handler = routeHandler(routeById('updateFlow'), async ({ path, body, headers }) =>
  ok(await dependencies().engine.flows.update(tenantOf(headers), path.flowId, body)),
);
