import { dependencies } from '../composition/dependencies.ts';
import { ok } from '../http/results.ts';
import { routeHandler } from '../http/route-handler.ts';
import { tenantOf } from '../http/tenant.ts';
import { executionBody } from '../http/views.ts';
import { routeById } from '../routes.ts';

export const handler = routeHandler(routeById('stopExecution'), async ({ path, body, headers }) =>
  ok(
    executionBody(
      await dependencies().engine.executions.stop(tenantOf(headers), path.executionId, body.cause),
    ),
  ),
);
