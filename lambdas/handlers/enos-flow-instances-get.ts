import { dependencies } from '../composition/dependencies.ts';
import { requireQuery } from '../http/request.ts';
import { ok } from '../http/results.ts';
import { routeHandler } from '../http/route-handler.ts';
import { routeById } from '../routes.ts';

export const handler = routeHandler(routeById('enosFlowInstancesGet'), async ({ query }) =>
  ok(
    await dependencies().enos.getInstance(
      { userId: query.userId, orgId: query.orgId },
      requireQuery(query, 'flowInstId'),
    ),
  ),
);
