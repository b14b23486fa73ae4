import { dependencies } from '../composition/dependencies.ts';
import { ok } from '../http/results.ts';
import { routeHandler } from '../http/route-handler.ts';
import { tenantOf } from '../http/tenant.ts';
import { routeById } from '../routes.ts';

export const handler = routeHandler(routeById('getExecutionContext'), async ({ path, headers }) =>
  ok(await dependencies().engine.executions.context(tenantOf(headers), path.executionId)),
);
