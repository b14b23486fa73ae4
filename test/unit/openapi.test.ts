import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { handler } from '../../lambdas/handlers/openapi.ts';
import { pathsOf, type RouteDefinition } from '../../lambdas/http/route.ts';
import { routes } from '../../lambdas/routes.ts';
import { httpEvent, lambdaContext } from '../support/events.ts';

describe('OpenAPI document', () => {
  it('is valid OpenAPI 3.1 and lists every route of the table', async () => {
    const response = await handler(httpEvent({ path: '/openapi.json' }), lambdaContext);
    assert.equal(response.statusCode, 200);
    const document = JSON.parse(response.body ?? '{}');
    assert.equal(document.openapi, '3.1.0');
    const result = await new Validator().validate(document);
    assert.equal(result.valid, true, JSON.stringify(result.errors));
    for (const route of routes as readonly RouteDefinition[]) {
      for (const path of pathsOf(route)) {
        assert.ok(document.paths[path]?.[route.method.toLowerCase()], `${route.method} ${path} missing`);
      }
    }
  });

  it('documents named schemas as components and references them', async () => {
    const response = await handler(httpEvent({ path: '/openapi.json' }), lambdaContext);
    const document = JSON.parse(response.body ?? '{}');
    assert.ok(document.components.schemas.HealthStatus);
    const health = document.paths['/health'].get.responses['200'].content['application/json'].schema;
    assert.equal(health.$ref, '#/components/schemas/HealthStatus');
  });
});
