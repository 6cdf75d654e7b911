/** A resource record as multicast-dns decodes it (the subset the cache keeps). */
export interface Rr {
  name: string;
  type: string;
  ttl?: number;
  flush?: boolean;
  data?: unknown;
}

export interface CachedRecord {
  rr: Rr & { ttl: number };
  receivedAt: number;
  expiresAt: number;
  /** A refresh query was sent for it at 80 % of its lifetime (RFC 6762 §5.2). */
  refreshed: boolean;
}

const KEPT_TYPES = new Set(['PTR', 'SRV', 'TXT', 'A', 'AAAA']);

/**
 * An mDNS record cache (RFC 6762 §10): records live for their TTL; a TTL 0 record (a goodbye)
 * removes its match; a record with the cache-flush bit replaces the other records of its name and
 * type received more than a second earlier (§10.2). The clock is injected for tests.
 */
export class RecordCache {
  private readonly records = new Map<string, CachedRecord>();

  constructor(private readonly clock: () => number = Date.now) {}

  /** Adds a response's records; returns the records that a goodbye removed. */
  add(rrs: readonly Rr[]): { removed: CachedRecord[] } {
    const now = this.clock();
    const removed: CachedRecord[] = [];
    for (const rr of rrs) {
      if (!KEPT_TYPES.has(rr.type) || typeof rr.ttl !== 'number') continue;
      const key = keyOf(rr);
      if (rr.ttl === 0) {
        const old = this.records.get(key);
        if (old) {
          this.records.delete(key);
          removed.push(old);
        }
        continue;
      }
      if (rr.flush) {
        for (const [k, c] of this.records) {
          if (k !== key && c.rr.type === rr.type && sameName(c.rr.name, rr.name) && c.receivedAt < now - 1000) {
            this.records.delete(k);
            removed.push(c);
          }
        }
      }
      this.records.set(key, { rr: rr as CachedRecord['rr'], receivedAt: now, expiresAt: now + rr.ttl * 1000, refreshed: false });
    }
    return { removed };
  }

  /** Drops expired records and returns them. */
  expire(): CachedRecord[] {
    const now = this.clock();
    const gone: CachedRecord[] = [];
    for (const [k, c] of this.records) {
      if (c.expiresAt <= now) {
        this.records.delete(k);
        gone.push(c);
      }
    }
    return gone;
  }

  /** Records past 80 % of their lifetime and not yet refreshed; marks them refreshed. */
  dueForRefresh(): CachedRecord[] {
    const now = this.clock();
    const due: CachedRecord[] = [];
    for (const c of this.records.values()) {
      if (!c.refreshed && now >= c.receivedAt + 0.8 * (c.expiresAt - c.receivedAt)) {
        c.refreshed = true;
        due.push(c);
      }
    }
    return due;
  }

  find(name: string, type: string): CachedRecord[] {
    const out: CachedRecord[] = [];
    for (const c of this.records.values()) if (c.rr.type === type && sameName(c.rr.name, name)) out.push(c);
    return out;
  }

  get size(): number {
    return this.records.size;
  }
}

const sameName = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();

function keyOf(rr: Rr): string {
  const d = rr.data;
  let data: string;
  if (Buffer.isBuffer(d)) data = d.toString('hex');
  else if (Array.isArray(d)) data = d.map((x) => (Buffer.isBuffer(x) ? x.toString('hex') : String(x))).join(',');
  else if (d && typeof d === 'object') data = JSON.stringify(d);
  else data = String(d).toLowerCase();
  // TXT and SRV are one per name (unique records): key them by name so a change replaces them.
  if (rr.type === 'TXT' || rr.type === 'SRV') data = '';
  return `${rr.name.toLowerCase()}|${rr.type}|${data}`;
}
