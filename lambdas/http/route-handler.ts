import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { DomainError, isDomainError } from '../core/errors.ts';
import type { EnvelopedResponse } from './dialects/envelope.ts';
import { envelopes } from './dialects/index.ts';
import { logFault, logger } from './logger.ts';
import { type ParsedRequest, parseRequest } from './request.ts';
import type { HandlerResult } from './results.ts';
import type { RouteDefinition } from './route.ts';

export type HttpEvent = APIGatewayProxyEventV2;
export type HttpResponse = APIGatewayProxyStructuredResultV2;
export type HttpHandler = (event: HttpEvent, context: Context) => Promise<HttpResponse>;

const jsonResponse = ({ status, body }: EnvelopedResponse, requestId: string): HttpResponse => ({
  statusCode: status,
  headers: { 'content-type': 'application/json; charset=utf-8', 'x-request-id': requestId },
  body: JSON.stringify(body),
});

function toResponse(route: RouteDefinition, result: HandlerResult, requestId: string): HttpResponse {
  if (result.kind === 'data') {
    return jsonResponse(envelopes[route.dialect].success(result.data, result.status), requestId);
  }
  const binary = typeof result.body !== 'string';
  return {
    statusCode: result.status,
    headers: { 'content-type': result.contentType, 'x-request-id': requestId, ...result.headers },
    body: binary ? Buffer.from(result.body).toString('base64') : (result.body as string),
    isBase64Encoded: binary,
  };
}

/**
 * Maps any error to the dialect's envelope. Only DomainErrors keep their
 * message (middy's exposable-error rule); anything else is logged with its
 * stack and answered with a generic 500.
 */
function errorResponse(route: RouteDefinition, error: unknown, event: HttpEvent): HttpResponse {
  const requestId = event.requestContext?.requestId ?? 'unknown';
  let domainError: DomainError;
  if (isDomainError(error)) {
    logger.info('Request refused', { kind: error.kind, reason: error.message });
    domainError = error;
  } else {
    logFault('Unhandled fault', error);
    domainError = new DomainError('internal', `Internal server error; quote request id ${requestId}`);
  }
  const failure = envelopes[route.dialect].failure(domainError, { requestId, path: event.rawPath ?? '' });
  return jsonResponse(failure, requestId);
}

/**
 * Builds a Lambda handler for one route of the route table: a middy chain of
 * the Powertools logger (request id in every line), edge parsing with the
 * route's zod schemas, the implementation, and the dialect's envelope.
 */
export function routeHandler<const R extends RouteDefinition>(
  route: R,
  implementation: (request: ParsedRequest<R>) => Promise<HandlerResult>,
): HttpHandler {
  const chain = middy<HttpEvent, HttpResponse, Error, Context>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use({
      before: ({ event }) => {
        logger.appendKeys({ requestId: event.requestContext.requestId, routeKey: event.routeKey });
      },
      onError: (request) => {
        request.response = errorResponse(route, request.error, request.event);
      },
    })
    .handler(async (event) => {
      const parsed = parseRequest(route, event);
      return toResponse(route, await implementation(parsed), event.requestContext.requestId);
    });
  return chain as HttpHandler;
}
