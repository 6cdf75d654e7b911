/**
 * Open-loop HTTP load at a fixed rate, for the latency figures. autocannon's `overallRate` is not
 * open loop: each connection sends its per-second quota as fast as it is answered and then waits
 * for the next second, so "half rate" is a burst at full speed for half of every second and its
 * p99 is the p99 under full load. Here request i is due at start + i/rate whatever the answers do;
 * a request that finds every connection busy waits in a queue, and its latency counts from the
 * time it was due (no coordinated omission).
 *
 * Keep-alive HTTP/1.1 over raw sockets with pre-built requests, so the generator costs little CPU;
 * answers are parsed only as far as the status and the body's end (Content-Length or chunked).
 */
import { connect, type Socket } from 'node:net';

export interface OpenLoopResult {
  sent: number;
  ok: number;
  errors: number;
  /** Milliseconds from the time each answered request was due to its complete answer. */
  latencies: number[];
}

interface Conn {
  socket: Socket;
  busy: boolean;
  due: number;
  buf: Buffer;
}

const HEADER_END = Buffer.from('\r\n\r\n');
const LAST_CHUNK = Buffer.from('\r\n0\r\n\r\n');

export async function openLoopHttp(o: { url: string; bodies: string[]; connections: number; rate: number; durationS: number }): Promise<OpenLoopResult> {
  const url = new URL(o.url);
  const requests = o.bodies.map((body) => Buffer.from(
    `POST ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  ));
  const latencies: number[] = [];
  let sent = 0;
  let ok = 0;
  let errors = 0;
  let next = 0;
  let measuring = true;
  const backlog: number[] = [];
  const idle: Conn[] = [];

  const dispatch = (c: Conn, due: number): void => {
    c.busy = true;
    c.due = due;
    c.socket.write(requests[next]);
    next = (next + 1) % requests.length;
    sent++;
  };
  const done = (c: Conn, status: number): void => {
    if (measuring) {
      if (status >= 200 && status < 300) {
        ok++;
        latencies.push(performance.now() - c.due);
      } else errors++;
    }
    c.busy = false;
    const waiting = backlog.shift();
    if (waiting !== undefined) dispatch(c, waiting);
    else idle.push(c);
  };
  // One answer at a time per connection (no pipelining): status line, headers, Content-Length bytes.
  const onData = (c: Conn, chunk: Buffer): void => {
    c.buf = c.buf.length ? Buffer.concat([c.buf, chunk]) : chunk;
    for (;;) {
      const end = c.buf.indexOf(HEADER_END);
      if (end < 0) return;
      const head = c.buf.subarray(0, end).toString('latin1');
      const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      let total: number;
      if (m) total = end + 4 + Number(m[1]);
      else if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
        // Small JSON answers: the body ends with the last-chunk marker, which JSON cannot contain.
        const last = c.buf.indexOf(LAST_CHUNK, end + 2);
        if (last < 0) return;
        total = last + LAST_CHUNK.length;
      } else {
        // Unparseable: count it and drop the connection (a throw here would kill the bench and orphan its servers).
        errors++;
        c.socket.destroy();
        return;
      }
      if (c.buf.length < total) return;
      const status = Number(head.slice(9, 12));
      c.buf = c.buf.subarray(total);
      if (c.busy) done(c, status);
    }
  };

  const conns = await Promise.all(Array.from({ length: o.connections }, () => new Promise<Conn>((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    socket.setNoDelay(true);
    const c: Conn = { socket, busy: false, due: 0, buf: Buffer.alloc(0) };
    socket.once('connect', () => resolve(c));
    socket.once('error', reject);
    socket.on('data', (d) => onData(c, d));
    socket.on('error', () => { errors++; });
  })));
  idle.push(...conns);

  const start = performance.now();
  let scheduled = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    // Request i is due at start + i/rate: dispatch it once that time has come (+1: request 0 is due at start,
    // not one interval later, which added 1/rate to every latency: 100 ms at 10 requests/s).
    const want = Math.min(Math.floor(((now - start) / 1000) * o.rate) + 1, Math.ceil(o.durationS * o.rate));
    for (; scheduled < want; scheduled++) {
      const due = start + (scheduled / o.rate) * 1000;
      const c = idle.pop();
      if (c) dispatch(c, due);
      else backlog.push(due);
    }
  }, 1);
  await new Promise((r) => setTimeout(r, o.durationS * 1000));
  clearInterval(ticker);
  measuring = false;
  // Let in-flight requests finish (not counted) so the server is idle before the next phase.
  const deadline = Date.now() + 3000;
  backlog.length = 0;
  while (conns.some((c) => c.busy) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  for (const c of conns) c.socket.destroy();
  return { sent, ok, errors, latencies };
}
