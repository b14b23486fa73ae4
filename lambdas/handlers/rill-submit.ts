import { dependencies } from '../composition/dependencies.ts';
import { ok } from '../http/results.ts';
import { routeHandler } from '../http/route-handler.ts';
import { routeById } from '../routes.ts';

export const handler = routeHandler(routeById('rillSubmit'), async ({ query, body }) =>
  ok(
    await dependencies().rillFlow.submit({
      descriptorId: query.descriptor_id,
      context: body ?? {},
      ...(query.callback ? { callback: query.callback } : {}),
    }),
  ),
);
