/** Outbound HTTP for http and async tasks (fetch in both runtimes; a port so tests can see calls). */
export interface HttpCallRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body?: unknown;
  timeoutMs?: number;
}

export interface HttpCallResponse {
  status: number;
  /** Parsed JSON when the response is JSON, else the text. */
  body: unknown;
}

export interface HttpCaller {
  call(request: HttpCallRequest): Promise<HttpCallResponse>;
}
