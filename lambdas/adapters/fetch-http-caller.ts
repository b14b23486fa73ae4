import type { HttpCaller, HttpCallRequest, HttpCallResponse } from '../ports/http-caller.ts';

const parse = (text: string): unknown => {
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
};

/** The HttpCaller of both runtimes: Node's fetch with a timeout; bodies are JSON when they parse. */
export class FetchHttpCaller implements HttpCaller {
  async call(request: HttpCallRequest): Promise<HttpCallResponse> {
    const hasBody = request.body !== undefined && request.method !== 'GET';
    const response = await fetch(request.url, {
      method: request.method,
      headers: { ...(hasBody ? { 'content-type': 'application/json' } : {}), ...request.headers },
      ...(hasBody ? { body: JSON.stringify(request.body) } : {}),
      ...(request.timeoutMs ? { signal: AbortSignal.timeout(request.timeoutMs) } : {}),
    });
    return { status: response.status, body: parse(await response.text()) };
  }
}
