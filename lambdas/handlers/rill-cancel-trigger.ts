import { dependencies } from '../composition/dependencies.ts';
import { ok } from '../http/results.ts';
import { routeHandler } from '../http/route-handler.ts';
import { routeById } from '../routes.ts';

export const handler = routeHandler(routeById('rillCancelTrigger'), async ({ query }) =>
  ok(await dependencies().rillFlow.cancelTrigger({ type: query.type, taskId: query.task_id })),
);
