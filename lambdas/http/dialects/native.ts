import type { DomainError } from '../../core/errors.ts';
import { type DialectEnvelope, httpStatusOf } from './envelope.ts';

const codeOf = (error: DomainError) => error.kind.toUpperCase().replaceAll('-', '_');

/** Sluice's own API (`/v1`, platform routes): bare payloads, `{error:{code,message,issues}}` on failure. */
export const nativeEnvelope: DialectEnvelope = {
  documentSuccess: (payload) => payload,
  success: (data, status) => ({ status, body: data }),
  failure: (error, { requestId }) => ({
    status: httpStatusOf[error.kind],
    body: {
      error: {
        code: codeOf(error),
        message: error.message,
        ...(error.issues.length > 0 ? { issues: error.issues } : {}),
        requestId,
      },
    },
  }),
};
