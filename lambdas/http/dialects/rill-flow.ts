import type { DomainError, DomainErrorKind } from '../../core/errors.ts';
import { type DialectEnvelope, describe } from './envelope.ts';

/**
 * Rill Flow's BizError codes and the HTTP statuses its WebExceptionHandler
 * answers with: a missing or malformed query parameter is 422 with
 * ERROR_DATA_FORMAT (9); a body that does not parse is 400 with the same code
 * (Sluice answers every dialect's unparseable body with 400); refused business
 * input is 400 with ERROR_DATA_FORMAT (9) or ERROR_DATA_RESTRICTION (10);
 * internal faults are 500 with ERROR_INTERNAL (1).
 */
const rillErrorOf: Record<DomainErrorKind, { status: number; code: number }> = {
  'bad-request': { status: 400, code: 9 },
  validation: { status: 400, code: 10 },
  'not-found': { status: 400, code: 9 },
  conflict: { status: 400, code: 10 },
  'payload-too-large': { status: 413, code: 10 },
  'unsupported-media-type': { status: 422, code: 5 },
  internal: { status: 500, code: 1 },
  unavailable: { status: 500, code: 1 },
};

/** A missing or malformed query parameter is a request problem (422), as in Spring's parameter binding. */
const isRequestProblem = (error: DomainError) =>
  error.kind === 'validation' &&
  error.issues.length > 0 &&
  error.issues.every((issue) => issue.path.startsWith('query.'));

/**
 * Seed 003 (Rill Flow): successes are the documented bodies as they are
 * (`{"ret": true, ...}`, `{"execution_id": ...}`); failures are Rill Flow's
 * HttpResponse: `{request_id, error_code, error}`.
 */
export const rillFlowEnvelope: DialectEnvelope = {
  success: (data, status) => ({ status, body: data }),
  documentSuccess: (payload) => payload,
  failure: (error, { requestId }) => {
    const { status, code } = isRequestProblem(error) ? { status: 422, code: 9 } : rillErrorOf[error.kind];
    return { status, body: { request_id: requestId, error_code: code, error: describe(error) } };
  },
};
