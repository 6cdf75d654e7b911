import { createParser } from 'eventsource-parser';
import { waitFor } from './ports.ts';

export interface StreamEvent {
  event: string;
  data: any;
}

/**
 * A client of the gateway's event stream (`GET /events`), as the status page reads it: fetch and
 * the same parser. Every event is kept in order; `next()` waits for one that matches.
 */
export async function openEvents(url: string, token?: string): Promise<{ status: number; events: StreamEvent[]; next(match: (e: StreamEvent) => boolean, what?: string): Promise<StreamEvent>; close(): void }> {
  const abort = new AbortController();
  const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: abort.signal });
  const events: StreamEvent[] = [];
  let read = 0;
  if (res.ok && res.body) {
    const parser = createParser({ onEvent: (e) => events.push({ event: e.event ?? 'message', data: JSON.parse(e.data) }) });
    void (async () => {
      try {
        for await (const chunk of res.body!.pipeThrough(new TextDecoderStream())) parser.feed(chunk);
      } catch { /* closed */ }
    })();
  }
  return {
    status: res.status,
    events,
    /** The first event after the last one `next()` returned that matches. */
    async next(match, what = 'an event') {
      const found = await waitFor(() => {
        const i = events.findIndex((e, n) => n >= read && match(e));
        return i >= 0 ? { i } : null;
      }, 15000, what);
      read = found.i + 1;
      return events[found.i];
    },
    close: () => abort.abort(),
  };
}
