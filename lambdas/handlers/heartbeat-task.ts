import { dependencies } from '../composition/dependencies.ts';
import { raw } from '../http/results.ts';
import { routeHandler } from '../http/route-handler.ts';
import { routeById } from '../routes.ts';

export const handler = routeHandler(routeById('heartbeatTask'), async ({ body }) => {
  await dependencies().engine.executions.heartbeat(body.token);
  return raw('', 'application/json', { status: 204 });
});
