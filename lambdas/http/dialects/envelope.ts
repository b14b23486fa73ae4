import type { DomainError, DomainErrorKind } from '../../core/errors.ts';

/** A response before serialisation: HTTP status and a JSON-serialisable body. */
export interface EnvelopedResponse {
  status: number;
  body: unknown;
}

/**
 * How one dialect wraps results and errors. Each dialect has exactly one of
 * these; nothing else in Sluice decides a dialect's response shape.
 */
export interface DialectEnvelope {
  success(data: unknown, status: number): EnvelopedResponse;
  failure(error: DomainError, request: FailedRequest): EnvelopedResponse;
  /** The JSON Schema of a success body, given the schema of the payload inside it (for OpenAPI). */
  documentSuccess(payload: JsonSchema): JsonSchema;
}

export type JsonSchema = Record<string, unknown>;

/** An object schema whose properties are all required. */
export const envelopeSchema = (properties: Record<string, JsonSchema>): JsonSchema => ({
  type: 'object',
  properties,
  required: Object.keys(properties),
});

/** What a dialect may quote back about the request that failed. */
export interface FailedRequest {
  requestId: string;
  path: string;
}

/** The HTTP status each domain error kind means in every dialect that uses HTTP statuses. */
export const httpStatusOf: Record<DomainErrorKind, number> = {
  'bad-request': 400,
  validation: 400,
  'not-found': 404,
  forbidden: 403,
  conflict: 409,
  'payload-too-large': 413,
  'unsupported-media-type': 415,
  internal: 500,
  unavailable: 503,
};

/** First issue appended to the message, so a one-line client log still says what was wrong. */
export function describe(error: DomainError): string {
  const first = error.issues[0];
  if (!first || error.message.includes(first.message)) return error.message;
  return `${error.message}: ${first.path ? `${first.path}: ` : ''}${first.message}`;
}
