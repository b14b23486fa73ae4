import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import {
  badRequest,
  payloadTooLarge,
  unsupportedMediaType,
  type ValidationIssue,
  validationFailed,
} from '../core/errors.ts';
import type { RouteDefinition } from './route.ts';

/** Lambda's synchronous invocation payload limit; API Gateway never delivers more. */
export const maxRequestBytes = 6 * 1024 * 1024;

type Output<T> = T extends z.ZodType ? z.output<T> : undefined;
type RequestPart<R extends RouteDefinition, K extends 'query' | 'path' | 'body'> =
  R['request'] extends Record<K, infer S> ? Output<S> : undefined;

/** A request after parsing at the edge: every part has passed its route's zod schema. */
export interface ParsedRequest<R extends RouteDefinition = RouteDefinition> {
  query: RequestPart<R, 'query'>;
  path: RequestPart<R, 'path'>;
  body: RequestPart<R, 'body'>;
  headers: Readonly<Record<string, string>>;
  requestId: string;
  method: string;
  rawPath: string;
}

const issuesOf = (part: string, error: z.ZodError): ValidationIssue[] =>
  error.issues.map((issue) => ({
    path: [part, ...issue.path.map(String)].join('.'),
    message: issue.message,
  }));

/** Parses one part of the request, collecting its issues instead of stopping at the first. */
function parsePart(
  part: string,
  schema: z.ZodType | undefined,
  value: unknown,
  issues: ValidationIssue[],
): unknown {
  if (!schema) return undefined;
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  issues.push(...issuesOf(part, result.error));
  return undefined;
}

/**
 * For dialects whose body shape depends on a query parameter (EnOS's
 * `action`): parses the already-parsed JSON body with the action's schema,
 * failing the way edge parsing does.
 */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const result = schema.safeParse(body ?? {});
  if (result.success) return result.data;
  const issues = issuesOf('body', result.error);
  const first = issues[0];
  throw validationFailed(`Invalid ${first?.path}: ${first?.message}`, issues);
}

/** A query parameter the action needs (optional in the route's schema because other actions do not). */
export function requireQuery<Q extends Record<string, unknown>, K extends keyof Q & string>(
  query: Q,
  name: K,
): NonNullable<Q[K]> {
  const value = query[name];
  if (value === undefined || value === null || value === '') {
    throw validationFailed(`Invalid query.${name}: required for this action`, [
      { path: `query.${name}`, message: 'required for this action' },
    ]);
  }
  return value as NonNullable<Q[K]>;
}

function bodyText(event: APIGatewayProxyEventV2): string | undefined {
  if (event.body === undefined || event.body === null) return undefined;
  const bytes = event.isBase64Encoded ? Buffer.from(event.body, 'base64') : Buffer.from(event.body, 'utf8');
  if (bytes.byteLength > maxRequestBytes) {
    throw payloadTooLarge(
      `Request body of ${bytes.byteLength} bytes exceeds the ${maxRequestBytes}-byte limit`,
    );
  }
  return bytes.toString('utf8');
}

/** A YAML body (Content-Type application/yaml) stands for the same JSON document. */
function decodeYaml(text: string): unknown {
  try {
    return parseYaml(text);
  } catch (error) {
    const reason = error instanceof YAMLParseError ? error.message : 'unparseable';
    throw badRequest(`Malformed YAML body: ${reason}`, [{ path: 'body', message: reason }]);
  }
}

function decodeBody(route: RouteDefinition, event: APIGatewayProxyEventV2): unknown {
  const text = bodyText(event);
  const mediaType = route.request?.bodyMediaType ?? 'application/json';
  if (mediaType !== 'application/json') return text;
  if (text === undefined || text.trim() === '') return undefined;
  const declared = event.headers?.['content-type'];
  if (declared && /yaml/i.test(declared)) return decodeYaml(text);
  if (declared && !/json|text\/plain|x-www-form-urlencoded/i.test(declared)) {
    throw unsupportedMediaType(
      `Content-Type ${declared} is not accepted here; send application/json or application/yaml`,
    );
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    const reason = error instanceof SyntaxError ? error.message : 'unparseable';
    throw badRequest(`Malformed JSON body: ${reason}`, [{ path: 'body', message: reason }]);
  }
}

/** Validates query, path parameters and body against the route's schemas; reports every invalid field. */
export function parseRequest<R extends RouteDefinition>(
  route: R,
  event: APIGatewayProxyEventV2,
): ParsedRequest<R> {
  // Every route enforces the size limit, even one that ignores its body.
  const rawBody = route.request?.body ? decodeBody(route, event) : void bodyText(event);
  const issues: ValidationIssue[] = [];
  const path = parsePart('path', route.request?.path, event.pathParameters ?? {}, issues);
  const query = parsePart('query', route.request?.query, event.queryStringParameters ?? {}, issues);
  const body = parsePart('body', route.request?.body, rawBody, issues);
  const first = issues[0];
  if (first) throw validationFailed(`Invalid ${first.path}: ${first.message}`, issues);
  return {
    query,
    path,
    body,
    headers: Object.fromEntries(
      Object.entries(event.headers ?? {}).flatMap(([name, value]) =>
        value === undefined ? [] : [[name.toLowerCase(), value]],
      ),
    ),
    requestId: event.requestContext.requestId,
    method: event.requestContext.http.method,
    rawPath: event.rawPath,
  } as ParsedRequest<R>;
}
