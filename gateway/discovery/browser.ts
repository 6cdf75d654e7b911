import type { Logger } from '../log.ts';
import type { Announcement } from '../inventory/types.ts';
import { RecordCache, type Rr } from './record-cache.ts';
import { DEVICE_SERVICE, decodeTxt } from './names.ts';

/** Where resolved devices go: the inventory. */
export interface DeviceSink {
  recordAnnouncement(a: Announcement): void;
  recordGoodbye(id: string): void;
}

/** What the browser needs from the socket. */
export interface QueryPort {
  query(questions: { name: string; type: 'PTR' | 'SRV' | 'TXT' | 'A' | 'AAAA' }[]): void;
}

export interface BrowserOptions {
  service?: string;
  /** Upper bound of the interval between browse queries (they start at 1 s and double). */
  maxQueryIntervalMs: number;
  /** Housekeeping tick: expiry, refresh queries. Default 1000 ms. */
  tickMs?: number;
  clock?: () => number;
}

/**
 * A DNS-SD browser for `_iotgw-dev._tcp` (RFC 6763 §4-6) on top of a record cache:
 * PTR → instance, SRV/TXT of the instance → port, target and `id`/`group`/`fw`/`mac`, A/AAAA of
 * the target → addresses. Missing links are asked for (SRV+TXT, then A+AAAA). Each response that
 * carries a fully resolved instance is reported as an announcement; a goodbye (TTL 0) or the
 * expiry of its PTR or SRV reports a goodbye. Browse queries are repeated at 1, 2, 4 … s up to the
 * configured interval, and records are re-queried at 80 % of their TTL.
 */
export class DeviceBrowser {
  readonly cache: RecordCache;
  private readonly service: string;
  private readonly clock: () => number;
  /** instance fqdn → the id it was reported with and a fingerprint of what was reported. */
  private readonly known = new Map<string, { id: string; fingerprint: string }>();
  private readonly asked = new Map<string, number>();
  private timers: NodeJS.Timeout[] = [];
  private nextBrowseAt = 0;
  private browseInterval = 1000;

  constructor(private readonly port: QueryPort, private readonly sink: DeviceSink, private readonly opts: BrowserOptions, private readonly log: Logger) {
    this.service = opts.service ?? DEVICE_SERVICE;
    this.clock = opts.clock ?? Date.now;
    this.cache = new RecordCache(this.clock);
  }

  start(): void {
    this.browse();
    const tick = this.opts.tickMs ?? 1000;
    if (tick > 0) this.timers.push(setInterval(() => this.tick(), tick).unref());
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  /** Feed every mDNS response here. */
  handleResponse(packet: { answers?: readonly unknown[]; additionals?: readonly unknown[] }): void {
    const rrs = [...(packet.answers ?? []), ...(packet.additionals ?? [])] as Rr[];
    if (rrs.length === 0) return;
    const { removed } = this.cache.add(rrs);
    const touched = new Set<string>();
    for (const rr of rrs) {
      if (rr.type === 'PTR' && sameName(rr.name, this.service)) touched.add(String(rr.data).toLowerCase());
      if ((rr.type === 'SRV' || rr.type === 'TXT') && rr.name.toLowerCase().endsWith(`.${this.service.toLowerCase()}`)) touched.add(rr.name.toLowerCase());
      if (rr.type === 'A' || rr.type === 'AAAA') for (const inst of this.instancesOnHost(rr.name)) touched.add(inst);
    }
    for (const c of removed) if (c.rr.type === 'PTR') touched.add(String(c.rr.data).toLowerCase());
    for (const inst of touched) this.resolve(inst, true);
  }

  /** Housekeeping: expiry, refresh queries, the browse schedule. Public for tests with a fake clock. */
  tick(): void {
    const gone = this.cache.expire();
    const touched = new Set<string>();
    for (const c of gone) {
      if (c.rr.type === 'PTR') touched.add(String(c.rr.data).toLowerCase());
      if (c.rr.type === 'SRV') touched.add(c.rr.name.toLowerCase());
    }
    for (const inst of touched) this.resolve(inst, false);
    const refresh = this.cache.dueForRefresh().filter((c) => c.rr.type === 'PTR' && sameName(c.rr.name, this.service));
    if (refresh.length > 0) this.port.query([{ name: this.service, type: 'PTR' }]);
    if (this.clock() >= this.nextBrowseAt) this.browse();
  }

  private browse(): void {
    this.port.query([{ name: this.service, type: 'PTR' }]);
    this.nextBrowseAt = this.clock() + this.browseInterval;
    this.browseInterval = Math.min(this.browseInterval * 2, this.opts.maxQueryIntervalMs);
  }

  private instancesOnHost(host: string): string[] {
    const out: string[] = [];
    for (const ptr of this.cache.find(this.service, 'PTR')) {
      const inst = String(ptr.rr.data);
      if (this.cache.find(inst, 'SRV').some((s) => sameName((s.rr.data as { target: string }).target, host))) out.push(inst.toLowerCase());
    }
    return out;
  }

  /** Reports an instance's current state to the sink; `fresh` = records of it just arrived. */
  private resolve(instance: string, fresh: boolean): void {
    const ptr = this.cache.find(this.service, 'PTR').find((c) => sameName(String(c.rr.data), instance));
    const srv = this.cache.find(instance, 'SRV')[0];
    const prev = this.known.get(instance);
    if (!ptr || !srv) {
      if (prev) {
        this.known.delete(instance);
        this.log.debug({ instance, id: prev.id }, 'device withdrew or expired');
        this.sink.recordGoodbye(prev.id);
      }
      if (ptr && !srv) this.ask(instance, ['SRV', 'TXT']);
      return;
    }
    const txtRec = this.cache.find(instance, 'TXT')[0];
    if (!txtRec) {
      this.ask(instance, ['TXT']);
      return;
    }
    const txt = decodeTxt(txtRec.rr.data);
    if (!txt.id) {
      this.log.debug({ instance }, 'device instance without a TXT id; ignored');
      return;
    }
    const { target, port } = srv.rr.data as { target: string; port: number };
    const addresses = [...this.cache.find(target, 'A'), ...this.cache.find(target, 'AAAA')].map((c) => String(c.rr.data));
    if (addresses.length === 0) this.ask(target, ['A', 'AAAA']);
    const announcement: Announcement = {
      id: txt.id, group: txt.group || null, fw: txt.fw || null, mac: txt.mac || null,
      addresses, host: target, port, ttl: Math.round((ptr.expiresAt - ptr.receivedAt) / 1000),
    };
    const fingerprint = JSON.stringify(announcement);
    if (prev && prev.id !== txt.id) this.sink.recordGoodbye(prev.id);
    if (!fresh && prev?.fingerprint === fingerprint) return;
    this.known.set(instance, { id: txt.id, fingerprint });
    this.sink.recordAnnouncement(announcement);
  }

  /** Queries missing records, at most once a second per name. */
  private ask(name: string, types: ('SRV' | 'TXT' | 'A' | 'AAAA')[]): void {
    const now = this.clock();
    const last = this.asked.get(name) ?? -Infinity;
    if (now - last < 1000) return;
    this.asked.set(name, now);
    if (this.asked.size > 1000) this.asked.clear();
    this.port.query(types.map((type) => ({ name, type })));
  }
}

const sameName = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();
