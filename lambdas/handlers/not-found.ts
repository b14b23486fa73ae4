import { notFound } from '../core/errors.ts';
import { routeHandler } from '../http/route-handler.ts';
import { fallbackRoute } from '../routes.ts';

export const handler = routeHandler(fallbackRoute, async (request) => {
  throw notFound(`No route for ${request.method} ${request.rawPath}`);
});
