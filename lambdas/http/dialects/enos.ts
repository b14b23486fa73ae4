import type { DomainErrorKind } from '../../core/errors.ts';
import { type DialectEnvelope, describe, envelopeSchema, httpStatusOf } from './envelope.ts';

/**
 * EnOS error codes: 62102 is the documented "invalid parameter" family, 62109
 * a server-side failure; the rest follow EnOS's common codes.
 */
const enosCodeOf: Record<DomainErrorKind, number> = {
  'bad-request': 62102,
  validation: 62102,
  'not-found': 62102,
  conflict: 62102,
  'payload-too-large': 62102,
  'unsupported-media-type': 62102,
  internal: 62109,
  unavailable: 62109,
};

/** Seed 004 (EnOS batch processing): `{status, msg, data}` with status 0 and msg "Success". */
export const enosEnvelope: DialectEnvelope = {
  documentSuccess: (data) => envelopeSchema({ status: { const: 0 }, msg: { type: 'string' }, data }),
  success: (data, status) => ({ status, body: { status: 0, msg: 'Success', data } }),
  failure: (error) => ({
    status: httpStatusOf[error.kind],
    body: { status: enosCodeOf[error.kind], msg: describe(error), data: null },
  }),
};
