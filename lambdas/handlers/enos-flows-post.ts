import { dependencies } from '../composition/dependencies.ts';
import { parseBody } from '../http/request.ts';
import { ok } from '../http/results.ts';
import { routeHandler } from '../http/route-handler.ts';
import { routeById } from '../routes.ts';
import {
  flowIdBody,
  importBody,
  searchFlowsBody,
  triggerBody,
  updateAndTriggerBody,
} from '../schemas/enos.ts';

export const handler = routeHandler(routeById('enosFlowsPost'), async ({ query, body }) => {
  const { enos } = dependencies();
  const caller = { userId: query.userId, orgId: query.orgId };
  switch (query.action) {
    case 'import':
      return ok(await enos.importFlow(caller, parseBody(importBody, body)));
    case 'search':
      return ok(await enos.searchFlows(caller, parseBody(searchFlowsBody, body)));
    case 'enable':
    case 'disable':
      return ok(await enos.setEnabled(caller, parseBody(flowIdBody, body).flowId, query.action === 'enable'));
    case 'trigger':
      return ok(await enos.trigger(caller, parseBody(triggerBody, body)));
    case 'updateAndTrigger': {
      const request = parseBody(updateAndTriggerBody, body);
      return ok(await enos.trigger(caller, { ...request, parameters: request.parameters ?? [] }));
    }
  }
});
