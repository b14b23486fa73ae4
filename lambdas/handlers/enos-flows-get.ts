import { dependencies } from '../composition/dependencies.ts';
import { requireQuery } from '../http/request.ts';
import { ok } from '../http/results.ts';
import { routeHandler } from '../http/route-handler.ts';
import { routeById } from '../routes.ts';

export const handler = routeHandler(routeById('enosFlowsGet'), async ({ query }) => {
  const { enos } = dependencies();
  const caller = { userId: query.userId, orgId: query.orgId };
  switch (query.action) {
    case 'getMyFlow':
      return ok(await enos.myFlows(caller, query.searchValue));
    case 'export':
      return ok(await enos.exportFlow(caller, requireQuery(query, 'flowId')));
    case 'get':
      return ok(await enos.getFlow(caller, requireQuery(query, 'flowId')));
    case 'delete':
      return ok(await enos.deleteFlow(caller, requireQuery(query, 'flowId')));
  }
});
