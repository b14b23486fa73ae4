import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { payloadTooLarge } from '../lambdas/core/errors.ts';
import { envelopes } from '../lambdas/http/dialects/index.ts';
import { logFault } from '../lambdas/http/logger.ts';
import { maxRequestBytes } from '../lambdas/http/request.ts';
import type { RouteDefinition } from '../lambdas/http/route.ts';
import { pathsOf } from '../lambdas/http/route.ts';
import type { HttpEvent, HttpHandler, HttpResponse } from '../lambdas/http/route-handler.ts';
import { lambdaContext } from './functions.ts';

/**
 * A local stand-in for API Gateway (HTTP API, payload format 2.0): routes a
 * request with the route table, turns it into the same event Lambda would
 * receive, and runs the handler module Lambda would run.
 */

interface CompiledRoute {
  route: RouteDefinition;
  routeKey: string;
  pattern: RegExp;
  parameterNames: string[];
  /** Literal segments win over parameters, as in API Gateway. */
  specificity: number;
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function compile(route: RouteDefinition, path: string): CompiledRoute {
  const parameterNames: string[] = [];
  let specificity = 0;
  const source = path
    .split('/')
    .map((segment) => {
      const parameter = /^\{([^}+]+)(\+?)\}$/.exec(segment);
      if (!parameter) {
        specificity += 2;
        return escapeRegExp(segment);
      }
      parameterNames.push(parameter[1] as string);
      if (parameter[2]) return '(.+)';
      specificity += 1;
      return '([^/]+)';
    })
    .join('/');
  return {
    route,
    routeKey: `${route.method} ${path}`,
    pattern: new RegExp(`^${source}$`),
    parameterNames,
    specificity,
  };
}

const textualMediaType =
  /^(text\/|application\/(json|xml|javascript|x-www-form-urlencoded|yaml|x-yaml)|[^;]*\+json|[^;]*\+xml)/i;

async function readBody(request: IncomingMessage): Promise<Buffer | 'too-large'> {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > maxRequestBytes) return 'too-large';
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).byteLength;
    if (size > maxRequestBytes) return 'too-large';
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function toEvent(
  request: IncomingMessage,
  url: URL,
  match: { compiled: CompiledRoute; parameters: Record<string, string> },
  body: Buffer,
  requestId: string,
): HttpEvent {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined && name !== 'cookie')
      headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const query: Record<string, string> = {};
  for (const [name, value] of url.searchParams)
    query[name] = name in query ? `${query[name]},${value}` : value;
  const contentType = headers['content-type'] ?? '';
  const isText = body.byteLength === 0 || textualMediaType.test(contentType);
  const now = new Date();
  const cookies = request.headers.cookie?.split(/;\s*/).filter(Boolean);
  return {
    version: '2.0',
    routeKey: match.compiled.routeKey,
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    ...(cookies?.length ? { cookies } : {}),
    headers,
    ...(Object.keys(query).length ? { queryStringParameters: query } : {}),
    ...(Object.keys(match.parameters).length ? { pathParameters: match.parameters } : {}),
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: headers.host ?? 'localhost',
      domainPrefix: 'local',
      http: {
        method: request.method ?? 'GET',
        path: url.pathname,
        protocol: `HTTP/${request.httpVersion}`,
        sourceIp: request.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId,
      routeKey: match.compiled.routeKey,
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    ...(body.byteLength > 0
      ? { body: isText ? body.toString('utf8') : body.toString('base64'), isBase64Encoded: !isText }
      : { isBase64Encoded: false }),
  };
}

function send(response: ServerResponse, result: HttpResponse): void {
  const headers: Record<string, string | string[]> = { ...(result.headers as Record<string, string>) };
  if (result.cookies?.length) headers['set-cookie'] = result.cookies;
  const body =
    result.body === undefined ? '' : Buffer.from(result.body, result.isBase64Encoded ? 'base64' : 'utf8');
  response.writeHead(result.statusCode ?? 200, { ...headers, 'content-length': String(body.length) });
  response.end(body);
}

export interface LocalApiGatewayOptions {
  routes: readonly RouteDefinition[];
  fallback: RouteDefinition;
  /** Loads a handler module by name (lambdas/handlers/<name>.ts). */
  loadHandler: (module: string) => Promise<HttpHandler>;
}

export function createLocalApiGateway({ routes, fallback, loadHandler }: LocalApiGatewayOptions): Server {
  const compiled = routes
    .flatMap((route) => pathsOf(route).map((path) => compile(route, path)))
    .sort((a, b) => b.specificity - a.specificity);

  const match = (method: string, path: string) => {
    for (const candidate of compiled) {
      if (candidate.route.method !== method) continue;
      const found = candidate.pattern.exec(path);
      if (!found) continue;
      const parameters = Object.fromEntries(
        candidate.parameterNames.map((name, index) => [name, decodeURIComponent(found[index + 1] as string)]),
      );
      return { compiled: candidate, parameters };
    }
    return { compiled: { ...compile(fallback, '/'), routeKey: '$default' }, parameters: {} };
  };

  return createServer(async (request, response) => {
    const requestId = randomUUID();
    try {
      const url = new URL(request.url ?? '/', 'http://localhost');
      const found = match(request.method ?? 'GET', url.pathname);
      const body = await readBody(request);
      if (body === 'too-large') {
        const failure = envelopes[found.compiled.route.dialect].failure(
          payloadTooLarge(`Request body exceeds the ${maxRequestBytes}-byte limit`),
          { requestId, path: url.pathname },
        );
        send(response, {
          statusCode: failure.status,
          headers: { 'content-type': 'application/json; charset=utf-8', connection: 'close' },
          body: JSON.stringify(failure.body),
        });
        return;
      }
      const handler = await loadHandler(found.compiled.route.handler);
      const event = toEvent(request, url, found, body, requestId);
      send(response, await handler(event, lambdaContext(found.compiled.route.handler, requestId)));
    } catch (error) {
      // Handlers map their own faults; reaching here means the gateway itself failed.
      logFault('Local gateway fault', error);
      send(response, {
        statusCode: 500,
        headers: { 'content-type': 'application/json; charset=utf-8' },
        body: JSON.stringify({ message: 'Internal Server Error' }),
      });
    }
  });
}
