import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { pathsOf, type RouteDefinition, routeKeysOf } from '../../lambdas/http/route.ts';
import { fallbackRoute, handlerModules, routes } from '../../lambdas/routes.ts';

describe('route table', () => {
  it('has unique operation ids and route keys', () => {
    const ids = routes.map((route) => route.id);
    assert.equal(new Set(ids).size, ids.length);
    const keys = routes.flatMap((route) => routeKeysOf(route));
    assert.equal(new Set(keys).size, keys.length, 'two routes claim the same method and path');
  });

  it('uses API Gateway path templates', () => {
    for (const route of routes as readonly RouteDefinition[]) {
      for (const path of pathsOf(route)) {
        assert.match(path, /^(\/[A-Za-z0-9._~-]*|\/\{[A-Za-z0-9_]+\+?\})+$/, `${route.id}: ${path}`);
        const templated = [...path.matchAll(/\{([A-Za-z0-9_]+)\+?\}/g)].map((m) => m[1]);
        const declared = Object.keys(route.request?.path?.shape ?? {});
        for (const name of templated)
          assert.ok(declared.includes(name as string), `${route.id}: {${name}} undeclared`);
      }
    }
  });

  it('points every route at a handler module that exports a handler', async () => {
    for (const module of handlerModules().keys()) {
      const file = new URL(`../../lambdas/handlers/${module}.ts`, import.meta.url);
      assert.ok(existsSync(file), `missing lambdas/handlers/${module}.ts`);
      const exports = await import(file.href);
      assert.equal(typeof exports.handler, 'function', `${module} exports no handler`);
    }
    assert.ok(handlerModules().has(fallbackRoute.handler));
  });
});
