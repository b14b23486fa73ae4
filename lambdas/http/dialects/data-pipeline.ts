import type { DomainErrorKind } from '../../core/errors.ts';
import { type DialectEnvelope, envelopeSchema, httpStatusOf } from './envelope.ts';

const errorTypeOf: Record<DomainErrorKind, string> = {
  'bad-request': 'ValidationError',
  validation: 'ValidationError',
  'not-found': 'NotFoundError',
  forbidden: 'ForbiddenError',
  conflict: 'ConflictError',
  'payload-too-large': 'PayloadTooLargeError',
  'unsupported-media-type': 'ValidationError',
  internal: 'InternalError',
  unavailable: 'ServiceUnavailableError',
};

/**
 * Seed 001 (data_pipeline API): `{success, code, message, data}`, and on failure
 * `{success:false, code, message, error:{type, details}}`.
 */
export const dataPipelineEnvelope: DialectEnvelope = {
  documentSuccess: (data) =>
    envelopeSchema({
      success: { const: true },
      code: { type: 'integer' },
      message: { type: 'string' },
      data,
    }),
  success: (data, status) => ({ status, body: { success: true, code: status, message: '操作成功', data } }),
  failure: (error) => {
    const status = httpStatusOf[error.kind];
    const details =
      error.issues.map((issue) => `${issue.path}: ${issue.message}`).join('; ') || error.message;
    return {
      status,
      body: {
        success: false,
        code: status,
        message: error.message,
        error: { type: errorTypeOf[error.kind], details },
      },
    };
  },
};
