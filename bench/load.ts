/**
 * The load generators: autocannon (programmatic API) for HTTP, and a small WebSocket client for
 * the gateway's per-message acks. Both run in one of two modes:
 *   - max:   closed loop, as fast as the server answers (autocannon: `connections` requests in
 *            flight; WS: a window of `window` unacknowledged messages per connection);
 *   - rate:  open loop at a fixed overall rate (HTTP: bench/lib/http-open-loop.ts, latency counted
 *            from the time each request was due; WS: sends on a schedule whatever the acks do).
 * Latencies are milliseconds from send to the 2xx answer or the ack.
 */
import autocannon from 'autocannon';
import WebSocket from 'ws';
import { openLoopHttp } from './lib/http-open-loop.ts';

export interface LoadResult {
  mode: 'max' | 'rate';
  duration_s: number;
  /** Successful requests (2xx) or acked WS messages in the measured interval. */
  requests: number;
  readings: number;
  requests_per_s: number;
  readings_per_s: number;
  /** The overall rate asked for in `rate` mode. */
  target_rate: number | null;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  /** Non-2xx answers, nacks, socket errors and timeouts. */
  errors: number;
}

export interface HttpLoadOptions {
  url: string;
  bodies: string[];
  readingsPerRequest: number;
  connections: number;
  durationS: number;
  rate?: number;
}

export async function httpLoad(o: HttpLoadOptions): Promise<LoadResult> {
  if (o.rate) return httpRateLoad(o, o.rate);
  const headers = { 'content-type': 'application/json' };
  const result = await autocannon({
    url: o.url,
    connections: o.connections,
    duration: o.durationS,
    timeout: 10,
    requests: o.bodies.map((body) => ({ method: 'POST', path: new URL(o.url).pathname, headers, body })),
  });
  const ok = result['2xx'];
  const duration = result.duration || o.durationS;
  return {
    mode: 'max',
    duration_s: round(duration, 2),
    requests: ok,
    readings: ok * o.readingsPerRequest,
    requests_per_s: round(ok / duration, 1),
    readings_per_s: round((ok * o.readingsPerRequest) / duration, 1),
    target_rate: null,
    p50_ms: result.latency.p50,
    p99_ms: result.latency.p99,
    max_ms: result.latency.max,
    errors: result.non2xx + result.errors + result.timeouts,
  };
}

/** The half-rate phase: open loop (bench/lib/http-open-loop.ts explains why not autocannon's overallRate). */
async function httpRateLoad(o: HttpLoadOptions, rate: number): Promise<LoadResult> {
  const r = await openLoopHttp({ url: o.url, bodies: o.bodies, connections: o.connections, rate, durationS: o.durationS });
  const lat = new Latencies();
  for (const v of r.latencies) lat.push(v);
  const p = lat.percentiles();
  return {
    mode: 'rate',
    duration_s: o.durationS,
    requests: r.ok,
    readings: r.ok * o.readingsPerRequest,
    requests_per_s: round(r.ok / o.durationS, 1),
    readings_per_s: round((r.ok * o.readingsPerRequest) / o.durationS, 1),
    target_rate: Math.round(rate),
    p50_ms: p.p50,
    p99_ms: p.p99,
    max_ms: p.max,
    errors: r.errors,
  };
}

export interface WsLoadOptions {
  url: string;
  /** One reading JSON per device; `,"seq":N` is spliced in per message. */
  bodies: string[];
  connections: number;
  /** Unacknowledged messages per connection in `max` mode. */
  window: number;
  durationS: number;
  rate?: number;
}

class Latencies {
  private data = new Float64Array(1 << 16);
  length = 0;
  push(v: number): void {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = v;
  }
  percentiles(): { p50: number; p99: number; max: number } {
    if (this.length === 0) return { p50: 0, p99: 0, max: 0 };
    const sorted = this.data.slice(0, this.length).sort();
    const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
    return { p50: round(at(0.5), 3), p99: round(at(0.99), 3), max: round(sorted[sorted.length - 1], 3) };
  }
}

interface Conn {
  ws: WebSocket;
  seq: number;
  device: number;
  sent: Map<number, number>;
}

/** WebSocket load: each message is one sketch reading with a `seq`, acked with `{"ack": seq}` once durable. */
export async function wsLoad(o: WsLoadOptions): Promise<LoadResult> {
  const lat = new Latencies();
  let acked = 0;
  let errors = 0;
  let measuring = false;
  let sending = true;
  const conns: Conn[] = [];
  const body = (c: Conn): string => {
    const b = o.bodies[c.device];
    c.device = (c.device + 1) % o.bodies.length;
    return `${b.slice(0, -1)},"seq":${c.seq}}`;
  };
  const send = (c: Conn, dueAt = performance.now()): void => {
    if (c.ws.readyState !== WebSocket.OPEN) return;
    c.seq++;
    c.sent.set(c.seq, dueAt);
    c.ws.send(body(c));
  };

  await Promise.all(Array.from({ length: o.connections }, (_, i) => new Promise<void>((resolve, reject) => {
    const ws = new WebSocket(o.url, { perMessageDeflate: false });
    const c: Conn = { ws, seq: 0, device: (i * 7) % o.bodies.length, sent: new Map() };
    conns.push(c);
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.on('error', () => { errors++; });
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString()) as { ack?: number; nack?: number };
      const seq = (msg.ack ?? msg.nack) as number;
      const t0 = c.sent.get(seq);
      c.sent.delete(seq);
      if (msg.ack !== undefined && t0 !== undefined) {
        if (measuring) {
          acked++;
          lat.push(performance.now() - t0);
        }
      } else if (measuring) errors++;
      if (!o.rate && sending) send(c);
    });
  })));

  const started = performance.now();
  measuring = true;
  let ticker: NodeJS.Timeout | null = null;
  if (o.rate) {
    // Open loop: every 2 ms send what the schedule says is due, round-robin over connections.
    let due = 0;
    let next = 0;
    ticker = setInterval(() => {
      const want = Math.floor(((performance.now() - started) / 1000) * o.rate!);
      for (; due < want; due++) {
        // Latency counts from when the message was due, not from when the 2 ms tick sent it.
        send(conns[next], started + (due / o.rate!) * 1000);
        next = (next + 1) % conns.length;
      }
    }, 2);
  } else {
    for (const c of conns) for (let k = 0; k < o.window; k++) send(c);
  }
  await new Promise((r) => setTimeout(r, o.durationS * 1000));
  const duration = (performance.now() - started) / 1000;
  measuring = false;
  sending = false;
  if (ticker) clearInterval(ticker);
  // Let in-flight messages be answered (not counted) so the server is idle before the next phase.
  const deadline = Date.now() + 3000;
  while (conns.some((c) => c.sent.size > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await Promise.all(conns.map((c) => new Promise<void>((resolve) => {
    if (c.ws.readyState === WebSocket.CLOSED) return resolve();
    c.ws.once('close', () => resolve());
    c.ws.close();
    setTimeout(() => { c.ws.terminate(); resolve(); }, 1000).unref();
  })));
  const p = lat.percentiles();
  return {
    mode: o.rate ? 'rate' : 'max',
    duration_s: round(duration, 2),
    requests: acked,
    readings: acked,
    requests_per_s: round(acked / duration, 1),
    readings_per_s: round(acked / duration, 1),
    target_rate: o.rate ? Math.round(o.rate) : null,
    p50_ms: p.p50,
    p99_ms: p.p99,
    max_ms: p.max,
    errors,
  };
}

export function round(v: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
