import { dependencies } from '../composition/dependencies.ts';
import { ok } from '../http/results.ts';
import { routeHandler } from '../http/route-handler.ts';
import { tenantOf } from '../http/tenant.ts';
import { routeById } from '../routes.ts';

export const handler = routeHandler(routeById('listFlows'), async ({ query, headers }) =>
  ok(await dependencies().engine.flows.list(tenantOf(headers), query)),
);
