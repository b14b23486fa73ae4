import { type DialectEnvelope, describe, envelopeSchema, httpStatusOf } from './envelope.ts';

/** Seed 000 (DataFlow API): `{code, message, data}`, where `code` repeats the HTTP status. */
export const dataflowEnvelope: DialectEnvelope = {
  documentSuccess: (data) => envelopeSchema({ code: { type: 'integer' }, message: { type: 'string' }, data }),
  success: (data, status) => ({ status, body: { code: status, message: 'success', data } }),
  failure: (error) => {
    const status = httpStatusOf[error.kind];
    return { status, body: { code: status, message: describe(error), data: null } };
  },
};
