import { type DialectEnvelope, describe, envelopeSchema, httpStatusOf } from './envelope.ts';

/**
 * Seed 002 (offline pipeline "FlowEngine"): `{status, msg, data}` with status 0
 * on success. The seed documents no error bodies; Sluice answers with the
 * HTTP status in both the status line and `status`, and the reason in `msg`.
 */
export const flowEngineEnvelope: DialectEnvelope = {
  documentSuccess: (data) => envelopeSchema({ status: { const: 0 }, msg: { type: 'string' }, data }),
  success: (data, status) => ({ status, body: { status: 0, msg: '后台处理正常', data } }),
  failure: (error) => {
    const status = httpStatusOf[error.kind];
    return { status, body: { status, msg: describe(error), data: null } };
  },
};
