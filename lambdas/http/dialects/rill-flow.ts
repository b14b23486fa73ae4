import { type DialectEnvelope, describe, httpStatusOf } from './envelope.ts';

/**
 * Seed 003 (Rill Flow): successes are the documented bodies as they are
 * (`{"ret": true, ...}`, `{"execution_id": ...}`); failures use the Weibo API
 * error shape Rill Flow inherits: `{error, error_code, request}`.
 */
export const rillFlowEnvelope: DialectEnvelope = {
  documentSuccess: (payload) => payload,
  success: (data, status) => ({ status, body: data }),
  failure: (error, { path }) => {
    const status = httpStatusOf[error.kind];
    return { status, body: { error: describe(error), error_code: status, request: path } };
  },
};
