import type { RouteDefinition } from './http/route.ts';
import { healthStatus, nativeError, swaggerAssetPath } from './schemas/platform.ts';

/**
 * The route table: the single list of every HTTP endpoint. The CDK API
 * stacks, the local server and the OpenAPI document are all built from it.
 */
export const routes = [
  {
    id: 'getHealth',
    method: 'GET',
    path: '/health',
    handler: 'health',
    dialect: 'native',
    summary: 'Readiness: 200 only when the metadata store and the blob store answer',
    tags: ['platform'],
    responses: {
      200: { description: 'Every dependency answers', schema: healthStatus },
      503: { description: 'A dependency does not answer', schema: healthStatus },
    },
    access: { metadata: 'read', blobs: 'read' },
  },
  {
    id: 'getOpenApi',
    method: 'GET',
    path: '/openapi.json',
    handler: 'openapi',
    dialect: 'native',
    summary: 'The OpenAPI 3.1 document of every endpoint, generated from the route table',
    tags: ['platform'],
    responses: { 200: { description: 'OpenAPI 3.1 document' } },
  },
  {
    id: 'getSwaggerUi',
    method: 'GET',
    path: '/swagger-ui.html',
    aliases: ['/swagger-ui/{asset}'],
    handler: 'swagger-ui',
    dialect: 'native',
    summary: 'Swagger UI over /openapi.json (the page and its bundled assets)',
    tags: ['platform'],
    request: { path: swaggerAssetPath },
    responses: {
      200: { description: 'HTML page or asset', mediaType: 'text/html' },
      404: { description: 'Unknown asset', schema: nativeError },
    },
  },
] as const satisfies readonly RouteDefinition[];

export type TableRoute = (typeof routes)[number];
export type RouteId = TableRoute['id'];

/**
 * Answers every request no route matches (API Gateway's `$default` route
 * locally and on AWS) with a JSON 404 in the native shape.
 */
export const fallbackRoute: RouteDefinition = {
  id: 'notFound',
  method: 'GET',
  path: '$default',
  handler: 'not-found',
  dialect: 'native',
  summary: 'Any request no route matches',
  responses: { 404: { description: 'No such route', schema: nativeError } },
};

export function routeById<Id extends RouteId>(id: Id): Extract<TableRoute, { id: Id }> {
  const route = routes.find((candidate): candidate is Extract<TableRoute, { id: Id }> => candidate.id === id);
  if (!route) throw new Error(`Unknown route id ${id}`);
  return route;
}

/** Routes grouped by handler module: one Lambda function each. */
export function handlerModules(): Map<string, RouteDefinition[]> {
  const modules = new Map<string, RouteDefinition[]>();
  for (const route of [...routes, fallbackRoute] as RouteDefinition[]) {
    modules.set(route.handler, [...(modules.get(route.handler) ?? []), route]);
  }
  return modules;
}
