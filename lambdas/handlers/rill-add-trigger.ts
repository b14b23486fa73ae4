import { dependencies } from '../composition/dependencies.ts';
import type { JsonObject } from '../core/engine/json-path.ts';
import { ok } from '../http/results.ts';
import { routeHandler } from '../http/route-handler.ts';
import { routeById } from '../routes.ts';

export const handler = routeHandler(routeById('rillAddTrigger'), async ({ query, body }) =>
  ok(
    await dependencies().rillFlow.addTrigger({
      type: query.type,
      descriptorId: query.descriptor_id,
      ...(query.callback ? { callback: query.callback } : {}),
      body: body as JsonObject,
    }),
  ),
);
