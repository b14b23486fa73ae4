import { dependencies } from '../composition/dependencies.ts';
import { ok } from '../http/results.ts';
import { routeHandler } from '../http/route-handler.ts';
import { routeById } from '../routes.ts';

export const handler = routeHandler(routeById('enosTaskInstancesGet'), async ({ query }) =>
  ok(
    await dependencies().enos.taskLog(
      { userId: query.userId, orgId: query.orgId },
      query.taskInstId,
      query.maxLength,
    ),
  ),
);
