import { buildOpenApiDocument } from '../http/openapi.ts';
import { raw } from '../http/results.ts';
import type { RouteDefinition } from '../http/route.ts';
import { routeHandler } from '../http/route-handler.ts';
import { routeById, routes } from '../routes.ts';

const apiVersion = '0.1.0';
let document: string | undefined;

export const handler = routeHandler(routeById('getOpenApi'), async () => {
  document ??= JSON.stringify(buildOpenApiDocument(routes as readonly RouteDefinition[], apiVersion));
  return raw(document, 'application/json; charset=utf-8');
});
