import { type Dialect, dialects, type RouteDefinition, routeKeysOf } from '../lambdas/http/route.ts';
import { fallbackRoute, handlerModules } from '../lambdas/routes.ts';

/** One Lambda function: a handler module, the routes it serves and what they may touch. */
export interface HandlerPlan {
  /** Module under lambdas/handlers (without extension). */
  module: string;
  dialect: Dialect;
  routes: readonly RouteDefinition[];
  /** Union of the routes' `access`: the function is granted exactly this. */
  access: PlanAccess;
}

/** Step Functions capabilities (RouteAccess.orchestrator): distinct, not levels of one another. */
export type OrchestratorCapability = 'deploy' | 'run';

/** What a function may touch: the widest table and bucket levels, and every orchestrator capability, of its routes. */
export interface PlanAccess {
  metadata?: 'read' | 'write';
  blobs?: 'read' | 'write';
  /** Sorted, without duplicates; absent when no route needs Step Functions. */
  orchestrator?: readonly OrchestratorCapability[];
  schedules?: 'manage';
}

/** Where every function goes: the fallback (`$default`) one beside the API, the rest per dialect. */
export interface StackPlan {
  fallback: HandlerPlan;
  /** Only dialects that have routes; in the order of `dialects`. */
  byDialect: ReadonlyMap<Dialect, readonly HandlerPlan[]>;
}

const rank = { read: 1, write: 2 } as const;

function widest(
  a: 'read' | 'write' | undefined,
  b: 'read' | 'write' | undefined,
): 'read' | 'write' | undefined {
  if (!a) return b;
  if (!b) return a;
  return rank[a] >= rank[b] ? a : b;
}

/**
 * Least privilege for a function serving several routes: the widest table and
 * bucket access any of them needs, and the union of their orchestrator
 * capabilities (deploying and running flows are different powers, neither
 * implies the other, so a module serving both kinds of route gets both).
 */
export function mergeAccess(routes: readonly RouteDefinition[]): PlanAccess {
  let metadata: PlanAccess['metadata'];
  let blobs: PlanAccess['blobs'];
  const orchestrator = new Set<OrchestratorCapability>();
  let schedules: PlanAccess['schedules'];
  for (const route of routes) {
    schedules ??= route.access?.schedules;
    metadata = widest(metadata, route.access?.metadata);
    blobs = widest(blobs, route.access?.blobs);
    for (const capability of [route.access?.orchestrator ?? []].flat()) orchestrator.add(capability);
  }
  return {
    ...(metadata ? { metadata } : {}),
    ...(blobs ? { blobs } : {}),
    ...(orchestrator.size > 0 ? { orchestrator: [...orchestrator].sort() } : {}),
    ...(schedules ? { schedules } : {}),
  };
}

/**
 * Pure function of the route table: which functions exist and which stack
 * holds each. Adding a route or a handler module needs no CDK edit.
 */
export function planStacks(
  modules: ReadonlyMap<string, readonly RouteDefinition[]> = handlerModules(),
  fallback: RouteDefinition = fallbackRoute,
): StackPlan {
  const owners = new Map<string, string>();
  for (const route of [...modules.values()].flat()) {
    for (const key of route === fallback ? ['$default'] : routeKeysOf(route)) {
      const owner = owners.get(key);
      if (owner) throw new Error(`Route key ${key} is served twice: by ${owner} and ${route.id}`);
      owners.set(key, route.id);
    }
  }
  let fallbackPlan: HandlerPlan | undefined;
  const byDialect = new Map<Dialect, HandlerPlan[]>();
  for (const [module, routes] of modules) {
    const first = routes[0];
    if (!first) continue;
    const mixed = routes.filter((route) => route.dialect !== first.dialect);
    if (mixed.length > 0) {
      const ids = [first, ...mixed].map((route) => `${route.id} (${route.dialect})`).join(', ');
      throw new Error(`Handler module ${module} serves routes of several dialects: ${ids}`);
    }
    const plan: HandlerPlan = { module, dialect: first.dialect, routes, access: mergeAccess(routes) };
    if (routes.includes(fallback)) {
      fallbackPlan = plan;
      continue;
    }
    byDialect.set(plan.dialect, [...(byDialect.get(plan.dialect) ?? []), plan]);
  }
  if (!fallbackPlan) throw new Error(`No handler module serves the fallback route ${fallback.id}`);
  const ordered = new Map<Dialect, HandlerPlan[]>();
  for (const dialect of dialects) {
    const plans = byDialect.get(dialect);
    if (plans) ordered.set(dialect, plans);
  }
  return { fallback: fallbackPlan, byDialect: ordered };
}

/** `data-pipeline` → `DataPipeline`: for construct ids and stack names. */
export const pascalCase = (name: string): string =>
  name
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
