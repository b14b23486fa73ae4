import type { DomainError, DomainErrorKind } from '../../core/errors.ts';
import { type DialectEnvelope, describe } from './envelope.ts';

/**
 * Rill Flow's BizError codes as its responses carry them (30100 + the enum's
 * code) and the HTTP statuses its WebExceptionHandler answers with.
 */
export const rillErrorCodes = {
  internal: 30101,
  unsupported: 30105,
  processFail: 30106,
  forbidden: 30108,
  dataFormat: 30109,
  dataRestriction: 30110,
} as const;

/**
 * A missing or malformed query parameter is 422 with ERROR_DATA_FORMAT; a
 * body that does not parse is 400 with the same code (Sluice answers every
 * dialect's unparseable body with 400); refused business input is 400 with
 * ERROR_DATA_FORMAT or ERROR_DATA_RESTRICTION; internal faults are 500 with
 * ERROR_INTERNAL.
 */
const rillErrorOf: Record<DomainErrorKind, { status: number; code: number }> = {
  'bad-request': { status: 400, code: rillErrorCodes.dataFormat },
  validation: { status: 400, code: rillErrorCodes.dataRestriction },
  'not-found': { status: 400, code: rillErrorCodes.dataFormat },
  forbidden: { status: 403, code: rillErrorCodes.forbidden },
  conflict: { status: 400, code: rillErrorCodes.dataRestriction },
  'payload-too-large': { status: 413, code: rillErrorCodes.dataRestriction },
  'unsupported-media-type': { status: 422, code: rillErrorCodes.unsupported },
  internal: { status: 500, code: rillErrorCodes.internal },
  unavailable: { status: 500, code: rillErrorCodes.internal },
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
    const { status, code } = isRequestProblem(error)
      ? { status: 422, code: rillErrorCodes.dataFormat }
      : rillErrorOf[error.kind];
    return { status, body: { request_id: requestId, error_code: code, error: describe(error) } };
  },
};
