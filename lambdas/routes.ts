import { flowDescriptorSchema } from './core/flow/model.ts';
import type { RouteDefinition } from './http/route.ts';
import {
  aslDocument,
  completeTaskBody,
  contextView,
  executionIdPath,
  executionPage,
  executionView,
  failTaskBody,
  flowIdPath,
  flowPage,
  flowVersionQuery,
  flowView,
  heartbeatBody,
  listExecutionsQuery,
  listFlowsQuery,
  logPage,
  logsQuery,
  startExecutionBody,
  stopBody,
  tokenOutcome,
  validationReport,
} from './schemas/native.ts';
import { healthStatus, nativeError, swaggerAssetPath } from './schemas/platform.ts';

const refused = { description: 'Invalid request', schema: nativeError } as const;
const missing = { description: 'No such flow, execution or token', schema: nativeError } as const;
const clash = { description: 'The resource is in the wrong state', schema: nativeError } as const;
/** What the engine's API functions touch: records in the table, large contexts in the bucket, Step Functions. */
const deployAccess = { metadata: 'write', blobs: 'write', orchestrator: 'deploy' } as const;
const runAccess = { metadata: 'write', blobs: 'write', orchestrator: 'run' } as const;

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
  {
    id: 'createFlow',
    method: 'POST',
    path: '/v1/flows',
    handler: 'create-flow',
    dialect: 'native',
    summary:
      'Create a flow from a canonical descriptor (JSON or YAML); it is validated, compiled and deployed',
    tags: ['flows'],
    request: { body: flowDescriptorSchema },
    responses: { 201: { description: 'Created (version 1)', schema: flowView }, 400: refused },
    access: deployAccess,
  },
  {
    id: 'getFlowSchema',
    method: 'GET',
    path: '/v1/schemas/flow-descriptor.json',
    handler: 'get-flow-schema',
    dialect: 'native',
    summary: 'JSON Schema (2020-12) of the canonical flow descriptor, generated from its zod schema',
    tags: ['flows'],
    responses: { 200: { description: 'JSON Schema', mediaType: 'application/schema+json' } },
  },
  {
    id: 'validateFlow',
    method: 'POST',
    path: '/v1/flows/validate',
    handler: 'validate-flow',
    dialect: 'native',
    summary: 'Validate and compile a descriptor without storing it',
    tags: ['flows'],
    request: { body: flowDescriptorSchema },
    responses: { 200: { description: 'Valid', schema: validationReport }, 400: refused },
  },
  {
    id: 'listFlows',
    method: 'GET',
    path: '/v1/flows',
    handler: 'list-flows',
    dialect: 'native',
    summary: 'List flows, newest first',
    tags: ['flows'],
    request: { query: listFlowsQuery },
    responses: { 200: { description: 'A page of flows', schema: flowPage }, 400: refused },
    access: { metadata: 'read' },
  },
  {
    id: 'getFlow',
    method: 'GET',
    path: '/v1/flows/{flowId}',
    handler: 'get-flow',
    dialect: 'native',
    summary: 'Get a flow (latest or given version)',
    tags: ['flows'],
    request: { path: flowIdPath, query: flowVersionQuery },
    responses: { 200: { description: 'The flow', schema: flowView }, 404: missing },
    access: { metadata: 'read' },
  },
  {
    id: 'updateFlow',
    method: 'PUT',
    path: '/v1/flows/{flowId}',
    handler: 'update-flow',
    dialect: 'native',
    summary: 'Store a new version of a flow (running executions keep theirs)',
    tags: ['flows'],
    request: { path: flowIdPath, body: flowDescriptorSchema },
    responses: { 200: { description: 'The new version', schema: flowView }, 400: refused, 404: missing },
    access: deployAccess,
  },
  {
    id: 'deleteFlow',
    method: 'DELETE',
    path: '/v1/flows/{flowId}',
    handler: 'delete-flow',
    dialect: 'native',
    summary: 'Delete a flow (its past executions stay readable)',
    tags: ['flows'],
    request: { path: flowIdPath },
    responses: { 204: { description: 'Deleted' }, 404: missing },
    access: { metadata: 'write' },
  },
  {
    id: 'getFlowAsl',
    method: 'GET',
    path: '/v1/flows/{flowId}/asl',
    handler: 'get-flow-asl',
    dialect: 'native',
    summary: 'The Amazon States Language definition generated for a flow version',
    tags: ['flows'],
    request: { path: flowIdPath, query: flowVersionQuery },
    responses: { 200: { description: 'ASL definition', schema: aslDocument }, 404: missing },
    access: { metadata: 'read' },
  },
  {
    id: 'startExecution',
    method: 'POST',
    path: '/v1/flows/{flowId}/executions',
    handler: 'start-execution',
    dialect: 'native',
    summary: 'Start an execution with parameters (idempotent per executionId)',
    tags: ['executions'],
    request: { path: flowIdPath, body: startExecutionBody },
    responses: {
      201: { description: 'Started', schema: executionView },
      400: refused,
      404: missing,
      409: clash,
    },
    access: runAccess,
  },
  {
    id: 'listExecutions',
    method: 'GET',
    path: '/v1/executions',
    handler: 'list-executions',
    dialect: 'native',
    summary: 'List executions, newest first, filtered by flow, status and start time',
    tags: ['executions'],
    request: { query: listExecutionsQuery },
    responses: { 200: { description: 'A page of executions', schema: executionPage }, 400: refused },
    access: { metadata: 'read' },
  },
  {
    id: 'getExecution',
    method: 'GET',
    path: '/v1/executions/{executionId}',
    handler: 'get-execution',
    dialect: 'native',
    summary: 'An execution with every task run and its progress',
    tags: ['executions'],
    request: { path: executionIdPath },
    responses: { 200: { description: 'The execution', schema: executionView }, 404: missing },
    access: { metadata: 'read' },
  },
  {
    id: 'getExecutionContext',
    method: 'GET',
    path: '/v1/executions/{executionId}/context',
    handler: 'get-execution-context',
    dialect: 'native',
    summary: 'The execution’s current context',
    tags: ['executions'],
    request: { path: executionIdPath },
    responses: { 200: { description: 'The context', schema: contextView }, 404: missing },
    access: { metadata: 'read', blobs: 'read' },
  },
  {
    id: 'stopExecution',
    method: 'POST',
    path: '/v1/executions/{executionId}/stop',
    handler: 'stop-execution',
    dialect: 'native',
    summary: 'Stop a running execution',
    tags: ['executions'],
    request: { path: executionIdPath, body: stopBody },
    responses: { 200: { description: 'Stopped', schema: executionView }, 404: missing, 409: clash },
    access: runAccess,
  },
  {
    id: 'resumeExecution',
    method: 'POST',
    path: '/v1/executions/{executionId}/resume',
    handler: 'resume-execution',
    dialect: 'native',
    summary: 'Resume a FAILED or STOPPED execution from where it ended',
    tags: ['executions'],
    request: { path: executionIdPath },
    responses: { 200: { description: 'Running again', schema: executionView }, 404: missing, 409: clash },
    access: runAccess,
  },
  {
    id: 'getExecutionLogs',
    method: 'GET',
    path: '/v1/executions/{executionId}/logs',
    handler: 'get-execution-logs',
    dialect: 'native',
    summary: 'Logs of an execution, filtered by level, task, time and keyword',
    tags: ['executions'],
    request: { path: executionIdPath, query: logsQuery },
    responses: { 200: { description: 'A page of log entries', schema: logPage }, 404: missing },
    access: { metadata: 'read' },
  },
  {
    id: 'completeTask',
    method: 'POST',
    path: '/v1/tasks/complete',
    handler: 'complete-task',
    dialect: 'native',
    summary: 'Complete a waiting task by its callback token (a finished task makes this a no-op)',
    tags: ['callbacks'],
    request: { body: completeTaskBody },
    responses: { 200: { description: 'Delivered or already finished', schema: tokenOutcome }, 404: missing },
    access: runAccess,
  },
  {
    id: 'failTask',
    method: 'POST',
    path: '/v1/tasks/fail',
    handler: 'fail-task',
    dialect: 'native',
    summary: 'Fail a waiting task by its callback token',
    tags: ['callbacks'],
    request: { body: failTaskBody },
    responses: { 200: { description: 'Delivered or already finished', schema: tokenOutcome }, 404: missing },
    access: runAccess,
  },
  {
    id: 'heartbeatTask',
    method: 'POST',
    path: '/v1/tasks/heartbeat',
    handler: 'heartbeat-task',
    dialect: 'native',
    summary: 'Tell a waiting task with a heartbeat timeout that its worker is alive',
    tags: ['callbacks'],
    request: { body: heartbeatBody },
    responses: { 204: { description: 'Recorded' }, 404: missing },
    access: runAccess,
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
