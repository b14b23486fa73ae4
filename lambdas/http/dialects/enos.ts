import type { DomainError, DomainErrorKind } from '../../core/errors.ts';
import { type DialectEnvelope, describe, envelopeSchema, httpStatusOf } from './envelope.ts';

/**
 * EnOS error codes: 62102 is the documented "invalid parameter" family, 62109
 * a server-side failure; the rest follow EnOS's common codes.
 */
const enosCodeOf: Record<DomainErrorKind, number> = {
  'bad-request': 62102,
  validation: 62102,
  'not-found': 62102,
  forbidden: 62103,
  conflict: 62102,
  'payload-too-large': 62102,
  'unsupported-media-type': 62102,
  internal: 62109,
  unavailable: 62109,
};

/** A query or body field that failed edge parsing (lambdas/http/request.ts words it `Invalid query.x: …`). */
const edgeProblem = /^Invalid (?:query|body)\.([^:]+): (.*)$/s;
const missing = /received undefined|expected string to have >=1 characters|required for this action/;

/**
 * EnOS's documented wording: a missing field is `Invalid parameter: <field>`
 * (e.g. `Invalid parameter: flowName`), an invalid one adds why; an
 * unparseable request is `Incorrect parameter`; the core's own refusals
 * (`Directory does not exist`, `Workflow validation failed: …`) are kept.
 */
function enosMessage(error: DomainError): string {
  const edge = error.kind === 'validation' ? edgeProblem.exec(error.message) : null;
  if (edge) {
    const [, field = '', reason = ''] = edge;
    return missing.test(reason) ? `Invalid parameter: ${field}` : `Invalid parameter: ${field}: ${reason}`;
  }
  if (error.kind === 'bad-request') return `Incorrect parameter: ${describe(error)}`;
  return describe(error);
}

/** Seed 004 (EnOS batch processing): `{status, msg, data}` with status 0 and msg "Success". */
export const enosEnvelope: DialectEnvelope = {
  documentSuccess: (data) => envelopeSchema({ status: { const: 0 }, msg: { type: 'string' }, data }),
  success: (data, status) => ({ status, body: { status: 0, msg: 'Success', data } }),
  failure: (error) => ({
    status: httpStatusOf[error.kind],
    body: { status: enosCodeOf[error.kind], msg: enosMessage(error), data: null },
  }),
};
