import { dependencies } from '../composition/dependencies.ts';
import { ok } from '../http/results.ts';
import { routeHandler } from '../http/route-handler.ts';
import { routeById } from '../routes.ts';

export const handler = routeHandler(routeById('rillAddDescriptor'), async ({ query, body }) =>
  ok(
    await dependencies().rillFlow.addDescriptor({
      businessId: query.business_id,
      featureName: query.feature_name,
      alias: query.alias,
      yaml: body,
    }),
  ),
);
