/**
 * Domain errors: the only errors the core throws on purpose. Each dialect maps
 * them to its own envelope in one place (lambdas/http/dialects/*). Anything
 * else that escapes a handler is an unexpected fault and becomes a generic 500.
 */
export type DomainErrorKind =
  | 'bad-request'
  | 'validation'
  | 'not-found'
  | 'forbidden'
  | 'conflict'
  | 'payload-too-large'
  | 'unsupported-media-type'
  | 'unavailable'
  | 'internal';

export interface ValidationIssue {
  /** Dotted path of the offending field, e.g. `query.page` or `body.tasks.0.name`. */
  path: string;
  message: string;
}

export class DomainError extends Error {
  readonly kind: DomainErrorKind;
  readonly issues: readonly ValidationIssue[];

  constructor(kind: DomainErrorKind, message: string, issues: readonly ValidationIssue[] = []) {
    super(message);
    this.name = 'DomainError';
    this.kind = kind;
    this.issues = issues;
  }
}

export const badRequest = (message: string, issues: ValidationIssue[] = []) =>
  new DomainError('bad-request', message, issues);
export const validationFailed = (message: string, issues: ValidationIssue[] = []) =>
  new DomainError('validation', message, issues);
export const notFound = (message: string) => new DomainError('not-found', message);
export const conflict = (message: string) => new DomainError('conflict', message);
/** The caller may see the resource but not do this to it (e.g. an EnOS visitor changing a flow). */
export const forbidden = (message: string) => new DomainError('forbidden', message);
export const unavailable = (message: string) => new DomainError('unavailable', message);
export const payloadTooLarge = (message: string) => new DomainError('payload-too-large', message);
export const unsupportedMediaType = (message: string) => new DomainError('unsupported-media-type', message);

export const isDomainError = (error: unknown): error is DomainError => error instanceof DomainError;

/** A DomainError of one kind (e.g. the `conflict` of a create whose key is taken). */
export const isDomainErrorOf = (error: unknown, kind: DomainErrorKind): error is DomainError =>
  error instanceof DomainError && error.kind === kind;
