import { createParser } from 'eventsource-parser';

/**
 * The page's only ways to the gateway: the documented JSON API and the event stream (`GET
 * events`), both relative to the page, with the read token when the gateway asks for one. The
 * stream is read with fetch (not EventSource, which cannot send an Authorization header).
 */

const TOKEN_KEY = 'iotgw.read_token';

export function storedToken(): string | null {
  try {
    return localStorage.getItem(TOKEN_KEY);
  } catch {
    return null; // storage disabled: the page asks again next time
  }
}

export function storeToken(token: string | null): void {
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    /* storage disabled */
  }
}

/** The gateway answered 401: the read token is missing or wrong. */
export class TokenNeeded extends Error {
  constructor(readonly code: string) {
    super(code);
  }
}

/** Any other error answer, with the gateway's `{error: {code, message}}`. */
export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

function headers(): Record<string, string> {
  const token = storedToken();
  return token ? { authorization: `Bearer ${token}` } : {};
}

async function failure(res: Response): Promise<Error> {
  const body = (await res.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null;
  const code = body?.error?.code ?? `http_${res.status}`;
  if (res.status === 401) return new TokenNeeded(code);
  return new ApiError(res.status, code, body?.error?.message ?? `the gateway answered ${res.status}`);
}

export async function api<T>(path: string, init: { method?: string } = {}): Promise<T> {
  const res = await fetch(path, { method: init.method ?? 'GET', headers: headers(), cache: 'no-store' });
  if (!res.ok) throw await failure(res);
  return (await res.json()) as T;
}

export interface StreamHandlers {
  onEvent(name: string, data: unknown): void;
  onOpen(): void;
  /** The stream ended or could not start; it is retried after `retryMs`. */
  onDown(reason: string, retryMs: number): void;
  onTokenNeeded(code: string): void;
}

/** Opens `GET events` and keeps it open, reconnecting with backoff; returns a function that closes it. */
export function openStream(h: StreamHandlers): () => void {
  const abort = new AbortController();
  let retryMs = 2000;
  let failures = 0;
  const run = async (): Promise<void> => {
    while (!abort.signal.aborted) {
      let reason = 'the stream ended';
      try {
        const res = await fetch('events', { headers: { ...headers(), accept: 'text/event-stream' }, cache: 'no-store', signal: abort.signal });
        if (!res.ok || !res.body) {
          const err = await failure(res);
          if (err instanceof TokenNeeded) return h.onTokenNeeded(err.code);
          throw err;
        }
        failures = 0;
        h.onOpen();
        const parser = createParser({
          onEvent: (e) => h.onEvent(e.event ?? 'message', JSON.parse(e.data)),
          onRetry: (ms) => { retryMs = ms; },
        });
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          parser.feed(value);
        }
      } catch (err) {
        if (abort.signal.aborted) return;
        reason = (err as Error).message || String(err);
      }
      const wait = Math.min(15000, retryMs * 2 ** Math.min(failures++, 3));
      h.onDown(reason, wait);
      await new Promise((r) => setTimeout(r, wait));
    }
  };
  void run();
  return () => abort.abort();
}
