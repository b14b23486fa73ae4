/** What a handler's implementation returns; the chain turns it into an HTTP response. */
export type HandlerResult =
  | { kind: 'data'; status: number; data: unknown }
  | {
      kind: 'raw';
      status: number;
      contentType: string;
      body: string | Uint8Array;
      headers?: Record<string, string>;
    };

/** A payload the route's dialect wraps in its envelope. */
export const ok = (data: unknown, status = 200): HandlerResult => ({ kind: 'data', status, data });

/** A body sent exactly as given (HTML, the OpenAPI document, static assets). */
export const raw = (
  body: string | Uint8Array,
  contentType: string,
  options: { status?: number; headers?: Record<string, string> } = {},
): HandlerResult => ({
  kind: 'raw',
  status: options.status ?? 200,
  contentType,
  body,
  ...(options.headers ? { headers: options.headers } : {}),
});
