import { dependencies } from '../composition/dependencies.ts';
import { ok } from '../http/results.ts';
import { routeHandler } from '../http/route-handler.ts';
import { routeById } from '../routes.ts';

export const handler = routeHandler(routeById('completeTask'), async ({ body }) =>
  ok(await dependencies().engine.executions.completeToken(body.token, body.output)),
);
