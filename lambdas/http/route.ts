import type { z } from 'zod';

/** The API dialects Sluice serves; each maps results and errors to its own envelope. */
export const dialects = ['native', 'dataflow', 'data-pipeline', 'flow-engine', 'rill-flow', 'enos'] as const;
export type Dialect = (typeof dialects)[number];

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';

/** What a route's function may touch; the CDK stacks grant exactly this. */
export interface RouteAccess {
  metadata?: 'read' | 'write';
  blobs?: 'read' | 'write';
  /**
   * Step Functions: `deploy` creates/updates flow state machines (and passes
   * their role); `run` starts, stops, redrives executions and answers task tokens.
   * A route that does both (EnOS's `flows` POST imports and triggers) lists both.
   */
  orchestrator?: 'deploy' | 'run' | readonly ('deploy' | 'run')[];
  /** EventBridge Scheduler: create, update and delete the schedules of cron triggers. */
  schedules?: 'manage';
}

export interface ResponseSpec {
  description: string;
  /** Schema of the payload inside the dialect's envelope (or the raw body for non-JSON media). */
  schema?: z.ZodType;
  /** Defaults to application/json. */
  mediaType?: string;
}

export interface RouteDefinition {
  /** Unique; the OpenAPI operationId. */
  id: string;
  method: HttpMethod;
  /** API Gateway path template, e.g. `/v1/flows/{flowId}`. */
  path: string;
  /** Further paths served identically (e.g. Rill Flow's `/2/flow/submit.json`). */
  aliases?: readonly string[];
  /** Module under lambdas/handlers (without extension); one Lambda function per module. */
  handler: string;
  dialect: Dialect;
  summary: string;
  tags?: readonly string[];
  request?: {
    query?: z.ZodObject;
    path?: z.ZodObject;
    body?: z.ZodType;
    /** Defaults to application/json; `text/plain` bodies reach the handler as a string. */
    bodyMediaType?: string;
  };
  responses: Readonly<Record<number, ResponseSpec>>;
  access?: RouteAccess;
}

/** Every path (primary and aliases) of a route. */
export const pathsOf = (route: RouteDefinition): string[] => [route.path, ...(route.aliases ?? [])];

/** API Gateway route keys of a route, e.g. `GET /health`. */
export const routeKeysOf = (route: RouteDefinition): string[] =>
  pathsOf(route).map((path) => `${route.method} ${path}`);
