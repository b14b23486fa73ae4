import { rillSamples } from '../core/dialects/rill-flow/service.ts';
import { ok } from '../http/results.ts';
import { routeHandler } from '../http/route-handler.ts';
import { routeById } from '../routes.ts';

export const handler = routeHandler(routeById('rillSampleStart'), async ({ body }) =>
  ok(rillSamples.startNode(body)),
);
