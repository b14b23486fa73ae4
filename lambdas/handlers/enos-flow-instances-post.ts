import { dependencies } from '../composition/dependencies.ts';
import { parseBody } from '../http/request.ts';
import { ok } from '../http/results.ts';
import { routeHandler } from '../http/route-handler.ts';
import { routeById } from '../routes.ts';
import { cancelInstanceBody, searchInstancesBody } from '../schemas/enos.ts';

export const handler = routeHandler(routeById('enosFlowInstancesPost'), async ({ query, body }) => {
  const { enos } = dependencies();
  const caller = { userId: query.userId, orgId: query.orgId };
  switch (query.action) {
    case 'search':
      return ok(await enos.searchInstances(caller, parseBody(searchInstancesBody, body)));
    case 'cancel':
      return ok(await enos.cancelInstance(caller, parseBody(cancelInstanceBody, body).flowInstId));
  }
});
