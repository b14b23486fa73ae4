import { dependencies } from '../composition/dependencies.ts';
import { ok } from '../http/results.ts';
import { routeHandler } from '../http/route-handler.ts';
import { routeById } from '../routes.ts';

export const handler = routeHandler(routeById('validateFlow'), async ({ body }) => {
  const { definition } = dependencies().engine.flows.validate(body);
  const states = JSON.stringify(definition).match(/"Type":/g)?.length ?? 0;
  return ok({ valid: true, states, definitionBytes: Buffer.byteLength(JSON.stringify(definition)) });
});
