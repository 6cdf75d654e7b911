import type { ServerResponse } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../log.ts';
import type { Reading, ReadingDoc } from '../reading.ts';
import { GatewayError } from '../errors.ts';

/** What the stream reads; the same sources as `GET /devices`, `GET /redis` and `GET /stats`. */
export interface EventSources {
  devices(): { device_id: string }[];
  latest(): Promise<ReadingDoc[]>;
  stats(): Promise<unknown>;
}

export interface StatusEventsOptions {
  sources: EventSources;
  log: Logger;
  /** Devices and stats are compared and sent at least this often (state changes by silence). */
  tickMs?: number;
  /** A reading triggers a send after at most this long, and sends are never closer together. */
  minGapMs?: number;
  maxClients?: number;
  /** A client that leaves this much unread is dropped; it reconnects and gets a fresh snapshot. */
  maxBufferedBytes?: number;
  keepAliveMs?: number;
}

interface Client {
  res: ServerResponse;
  lastWrite: number;
}

/**
 * `GET /events`, a Server-Sent Events stream for the status page. On connect: `devices` with
 * every device (`full: true`), `readings` with each device's latest reading, and `stats`. Then:
 * - `devices` `{full: false, devices: [...]}`: the devices whose `GET /devices` entry changed
 *   (a reading, an announcement, a state reached by silence), at most every `minGapMs`;
 * - `readings` `{readings: [...]}`: the newest reading of each device that reported since the
 *   last event (one per device per event: a chart of the last hour needs no more);
 * - `stats` (the `GET /stats` body) when it changed, checked every `tickMs`.
 * A comment line every `keepAliveMs` keeps phones and proxies from closing an idle stream.
 * Nothing is computed while no page is open: readings are only noted while a client is connected.
 */
export class StatusEvents {
  private readonly clients = new Set<Client>();
  private readonly sentDevices = new Map<string, string>();
  private readonly pending = new Map<string, ReadingDoc>();
  private sentStats = '';
  private tickTimer: NodeJS.Timeout | null = null;
  private soonTimer: NodeJS.Timeout | null = null;
  private lastFlush = 0;
  private connecting = 0;
  private statsRunning = false;
  private readonly tickMs: number;
  private readonly minGapMs: number;
  private readonly maxClients: number;
  private readonly maxBuffered: number;
  private readonly keepAliveMs: number;

  constructor(private readonly opts: StatusEventsOptions) {
    this.tickMs = opts.tickMs ?? 1000;
    this.minGapMs = opts.minGapMs ?? 250;
    this.maxClients = opts.maxClients ?? 32;
    this.maxBuffered = opts.maxBufferedBytes ?? 1024 * 1024;
    this.keepAliveMs = opts.keepAliveMs ?? 15000;
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** Intake's observer: O(batch), memory only, and nothing at all while no page is open. */
  recordReadings(readings: Reading[]): void {
    if (this.clients.size === 0) return;
    for (const r of readings) this.pending.set(r.device_id, r.doc);
    this.soon();
  }

  /** Takes over the request's socket and streams until the client leaves or `stop()`. */
  async attach(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    // Streams still reading their snapshot count too, or a burst of connects would all pass.
    if (this.clients.size + this.connecting >= this.maxClients) {
      throw new GatewayError('too_many_streams', `this gateway serves at most ${this.maxClients} event streams at once; close a status page or retry later`, 503, undefined, 10);
    }
    this.connecting++;
    let devices: { device_id: string }[];
    let latest: ReadingDoc[];
    let stats: unknown;
    try {
      // Bring every open page up to date first, so the snapshot below and the next diff agree.
      devices = this.flushDevices();
      [latest, stats] = await Promise.all([this.opts.sources.latest(), this.opts.sources.stats()]);
    } finally {
      this.connecting--;
    }
    this.sendStatsIfChanged(stats);
    reply.hijack();
    const res = reply.raw;
    if (res.destroyed || request.raw.destroyed) return; // the page left while the snapshot was read
    request.raw.socket.setTimeout(0); // the server's idle timeout would cut a quiet stream
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      'x-accel-buffering': 'no',
      connection: 'keep-alive',
    });
    const client: Client = { res, lastWrite: 0 };
    this.clients.add(client);
    res.on('close', () => this.clients.delete(client));
    res.on('error', () => this.clients.delete(client));
    this.write(client, `retry: 2000\n\n`);
    this.write(client, frame('devices', { full: true, devices }));
    this.write(client, frame('readings', { readings: latest }));
    this.write(client, frame('stats', stats));
    this.startTimer();
  }

  /** Ends every stream (before the server closes, which would otherwise wait for them). */
  stop(): void {
    if (this.tickTimer) clearInterval(this.tickTimer);
    if (this.soonTimer) clearTimeout(this.soonTimer);
    this.tickTimer = this.soonTimer = null;
    for (const c of this.clients) c.res.end();
    this.clients.clear();
  }

  private startTimer(): void {
    if (this.tickTimer) return;
    this.tickTimer = setInterval(() => this.tick(), this.tickMs);
    this.tickTimer.unref();
  }

  private soon(): void {
    if (this.soonTimer) return;
    const delay = Math.max(0, this.lastFlush + this.minGapMs - Date.now());
    this.soonTimer = setTimeout(() => {
      this.soonTimer = null;
      this.flushDevices();
    }, delay);
    this.soonTimer.unref();
  }

  private tick(): void {
    if (this.clients.size === 0) {
      // Nobody watches: forget what was sent, so the next page starts from a clean snapshot.
      if (this.tickTimer) clearInterval(this.tickTimer);
      this.tickTimer = null;
      this.sentDevices.clear();
      this.pending.clear();
      this.sentStats = '';
      return;
    }
    this.flushDevices();
    void this.flushStats();
    const now = Date.now();
    for (const c of this.clients) if (now - c.lastWrite >= this.keepAliveMs) this.write(c, ': keep-alive\n\n');
  }

  /** Sends what changed in the device list and the readings noted since last time; returns the full list. */
  private flushDevices(): { device_id: string }[] {
    this.lastFlush = Date.now();
    const devices = this.opts.sources.devices();
    const changed: { device_id: string }[] = [];
    const seen = new Set<string>();
    for (const d of devices) {
      seen.add(d.device_id);
      const json = JSON.stringify(d);
      if (this.sentDevices.get(d.device_id) === json) continue;
      this.sentDevices.set(d.device_id, json);
      changed.push(d);
    }
    const removed = [...this.sentDevices.keys()].filter((id) => !seen.has(id));
    for (const id of removed) this.sentDevices.delete(id);
    if (changed.length > 0 || removed.length > 0) this.broadcast(frame('devices', { full: false, devices: changed, removed }));
    if (this.pending.size > 0) {
      this.broadcast(frame('readings', { readings: [...this.pending.values()] }));
      this.pending.clear();
    }
    return devices;
  }

  private async flushStats(): Promise<void> {
    if (this.statsRunning) return;
    this.statsRunning = true;
    try {
      this.sendStatsIfChanged(await this.opts.sources.stats());
    } catch (err) {
      this.opts.log.debug({ err: (err as Error).message }, 'event stream: stats unavailable');
    } finally {
      this.statsRunning = false;
    }
  }

  private sendStatsIfChanged(stats: unknown): void {
    // Uptime ticks every second; the page counts it from started_at, so it alone is no change.
    const key = JSON.stringify({ ...(stats as object), uptime_s: 0 });
    if (key === this.sentStats) return;
    this.sentStats = key;
    this.broadcast(frame('stats', stats));
  }

  private broadcast(text: string): void {
    for (const c of this.clients) this.write(c, text);
  }

  private write(c: Client, text: string): void {
    if (c.res.writableLength > this.maxBuffered) {
      this.opts.log.info({ buffered: c.res.writableLength }, 'event stream client is not reading; dropped (it reconnects with a fresh snapshot)');
      this.clients.delete(c);
      c.res.destroy();
      return;
    }
    c.lastWrite = Date.now();
    c.res.write(text);
  }
}

function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
