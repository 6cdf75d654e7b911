/**
 * The acknowledged-record (issue 21, item 1): per `(device_id, boot_id)` the set of `seq` the
 * gateway has acknowledged, so a retry of any of them is answered as a duplicate and never stored
 * or uploaded again, also after its hour left the buffer.
 *
 * Shape: per boot a sorted list of disjoint, non-adjacent inclusive intervals `[lo, hi]` of acked
 * seq. A board sends in order, so the usual record is one interval `[first, high-water mark]`;
 * retries and interleaved requests leave a few gaps that close when the missing seqs arrive.
 *
 * Bounds (both decided here; the issue is silent):
 * - `maxIntervalsPerBoot`: adding a seq that would make one interval too many forgets the LOWEST
 *   interval and raises the boot's `floor` past it. Forgetting (a retry of those seqs is stored
 *   again) is chosen over merging intervals across a gap (which would answer a never-stored reading
 *   as a duplicate: the board drops it, a loss). `isForgotten()` tells the caller that a seq lies
 *   below a floor and is not known, so such a store is counted, never silent.
 * - `maxBootsPerDevice`: a new boot beyond the bound evicts the boot with the oldest last
 *   acknowledgement (counted in `bootsEvicted`); its id is remembered in memory (not serialized),
 *   so `isForgotten()` is true for a retry of it until the gateway restarts.
 * - `forget(olderThanMs)`: boots whose last acknowledgement is older are dropped (the caller
 *   passes `now - ingest.max_late_seconds`).
 *
 * Hot path: `has`/`add` allocate nothing in the common cases (the device and boot exist, the seq
 * extends the last interval); a device's boots are a short array searched from the most recently
 * used one.
 *
 * Serialization (one string per device, `serialize`/`merge`): boots joined by `;`, each
 * `<boot_id>/<last ack, epoch s, base 36>/<floor, base 36>/<intervals>`, intervals joined by `,`,
 * each `<lo>` or `<lo>~<hi>` in base 36. boot_id is `[A-Za-z0-9._:-]` (validate.ts), so the
 * separators `; / , ~` never occur inside it. Example: `a1b2/s3k2lq/0/0~2n,2p~3c`.
 */

export interface AckedLedgerOptions {
  /** Boots kept per device; the least recently acknowledged one is evicted beyond it. Default 16. */
  maxBootsPerDevice?: number;
  /** Intervals kept per boot; the lowest one is forgotten beyond it. Default 32. */
  maxIntervalsPerBoot?: number;
}

interface BootAcks {
  id: string;
  /** Last acknowledgement, epoch ms (serialized in seconds). */
  lastAck: number;
  /** Seqs below this that are not in `iv` were forgotten at the interval bound (0: nothing forgotten). */
  floor: number;
  /** Flat sorted pairs lo0, hi0, lo1, hi1, ... (inclusive, disjoint, with a gap of >= 1 between pairs). */
  iv: number[];
}

interface DeviceAcks {
  boots: BootAcks[];
  /** Index of the boot used last: a board sends under one boot for a long time. */
  hint: number;
  /** Ids of boots evicted at the bound (memory only, at most `maxBootsPerDevice`), for `isForgotten`. */
  evicted?: { id: string; floor: number }[];
}

export interface AckedLedgerStats {
  devices: number;
  boots: number;
  intervals: number;
}

export class AckedLedger {
  readonly maxBootsPerDevice: number;
  readonly maxIntervalsPerBoot: number;
  private readonly devs = new Map<string, DeviceAcks>();
  /** Boots evicted at `maxBootsPerDevice` since construction. */
  bootsEvicted = 0;
  /** Intervals forgotten at `maxIntervalsPerBoot` since construction. */
  intervalsEvicted = 0;

  constructor(opts: AckedLedgerOptions = {}) {
    this.maxBootsPerDevice = Math.max(1, opts.maxBootsPerDevice ?? 16);
    this.maxIntervalsPerBoot = Math.max(1, opts.maxIntervalsPerBoot ?? 32);
  }

  /** Devices with at least one boot. */
  get size(): number {
    return this.devs.size;
  }

  /** Whether `seq` of this boot was acknowledged (and is still remembered). */
  has(deviceId: string, bootId: string, seq: number): boolean {
    const boot = this.findBoot(deviceId, bootId);
    return boot !== undefined && indexOf(boot.iv, seq) >= 0;
  }

  /**
   * Whether `seq` is not in the record because its interval was forgotten at the bound (it may
   * have been acknowledged). A reading stored in that case is a possible duplicate: count it.
   */
  isForgotten(deviceId: string, bootId: string, seq: number): boolean {
    const boot = this.findBoot(deviceId, bootId);
    if (boot === undefined) return this.devs.get(deviceId)?.evicted?.some((e) => e.id === bootId && seq < e.floor) === true;
    return seq < boot.floor && indexOf(boot.iv, seq) < 0;
  }

  /** Records `seq` as acknowledged at `now` (epoch ms). Returns false when it already was. */
  add(deviceId: string, bootId: string, seq: number, now: number): boolean {
    const boot = this.bootFor(deviceId, bootId, now);
    if (now > boot.lastAck) boot.lastAck = now;
    return insert(boot, seq, this);
  }

  /** `add` for several seqs of one boot; returns how many were new. */
  addAll(deviceId: string, bootId: string, seqs: ArrayLike<number>, now: number): number {
    if (seqs.length === 0) return 0;
    const boot = this.bootFor(deviceId, bootId, now);
    if (now > boot.lastAck) boot.lastAck = now;
    let added = 0;
    for (let i = 0; i < seqs.length; i++) if (insert(boot, seqs[i], this)) added++;
    return added;
  }

  /**
   * Takes `seq` out of the record (a write that failed after its seqs were added). The boot stays
   * even when it becomes empty: its last acknowledgement time is not rolled back.
   */
  remove(deviceId: string, bootId: string, seq: number): void {
    const boot = this.findBoot(deviceId, bootId);
    if (!boot) return;
    const iv = boot.iv;
    const i = indexOf(iv, seq);
    if (i < 0) return;
    const lo = iv[i];
    const hi = iv[i + 1];
    if (lo === hi) iv.splice(i, 2);
    else if (seq === lo) iv[i] = lo + 1;
    else if (seq === hi) iv[i + 1] = hi - 1;
    else iv.splice(i + 1, 0, seq - 1, seq + 1); // [lo, seq-1] [seq+1, hi]
  }

  /**
   * Drops boots whose last acknowledgement is before `olderThanMs`, and devices left without
   * boots. Returns how many boots were dropped.
   */
  forget(olderThanMs: number): number {
    let dropped = 0;
    for (const [deviceId, dev] of this.devs) {
      const before = dev.boots.length;
      dev.boots = dev.boots.filter((b) => b.lastAck >= olderThanMs);
      dropped += before - dev.boots.length;
      if (dev.boots.length === 0) this.devs.delete(deviceId);
      else if (dev.hint >= dev.boots.length) dev.hint = 0;
    }
    return dropped;
  }

  /** Whether the device has any boot in the record. */
  hasDevice(deviceId: string): boolean {
    return this.devs.has(deviceId);
  }

  /**
   * Replaces this ledger's entry for the device with a copy of `from`'s (none if `from` has
   * none). For a scratch ledger: the durable record plus one write's seqs, without touching the
   * durable one.
   */
  copyDevice(from: AckedLedger, deviceId: string): void {
    const src = from.devs.get(deviceId);
    if (!src) {
      this.devs.delete(deviceId);
      return;
    }
    this.devs.set(deviceId, {
      boots: src.boots.map((b) => ({ id: b.id, lastAck: b.lastAck, floor: b.floor, iv: b.iv.slice() })),
      hint: src.hint,
      evicted: src.evicted?.slice(),
    });
  }

  /** Devices in the record. */
  devices(): IterableIterator<string> {
    return this.devs.keys();
  }

  /** The device's record as one compact string, or '' when it has none. */
  serialize(deviceId: string): string {
    const dev = this.devs.get(deviceId);
    if (!dev) return '';
    let out = '';
    for (let b = 0; b < dev.boots.length; b++) {
      const boot = dev.boots[b];
      if (b > 0) out += ';';
      out += `${boot.id}/${Math.floor(boot.lastAck / 1000).toString(36)}/${boot.floor.toString(36)}/`;
      const iv = boot.iv;
      for (let i = 0; i < iv.length; i += 2) {
        if (i > 0) out += ',';
        out += iv[i] === iv[i + 1] ? iv[i].toString(36) : `${iv[i].toString(36)}~${iv[i + 1].toString(36)}`;
      }
    }
    return out;
  }

  /**
   * Unites a serialized record (from a store, at open) with what is held: intervals are united,
   * the later last acknowledgement and the higher floor are kept, the bounds apply. Throws on a
   * string that is not a record, naming what is wrong (the caller quarantines or logs it).
   */
  merge(deviceId: string, serialized: string): void {
    if (serialized === '') return;
    for (const part of serialized.split(';')) {
      const fields = part.split('/');
      if (fields.length !== 4 || fields[0] === '') throw new Error(`acked record of ${deviceId}: boot entry "${part}" is not <boot_id>/<last>/<floor>/<intervals>`);
      const [bootId, last, floor, ivs] = fields;
      const lastAck = parseBase36(last, deviceId) * 1000;
      const boot = this.bootFor(deviceId, bootId, lastAck);
      if (lastAck > boot.lastAck) boot.lastAck = lastAck;
      const f = parseBase36(floor, deviceId);
      if (f > boot.floor) boot.floor = f;
      if (ivs === '') continue;
      for (const range of ivs.split(',')) {
        const tilde = range.indexOf('~');
        const lo = parseBase36(tilde < 0 ? range : range.slice(0, tilde), deviceId);
        const hi = tilde < 0 ? lo : parseBase36(range.slice(tilde + 1), deviceId);
        if (hi < lo) throw new Error(`acked record of ${deviceId}: interval "${range}" ends before it starts`);
        insertRange(boot, lo, hi, this);
      }
    }
  }

  stats(): AckedLedgerStats {
    let boots = 0;
    let intervals = 0;
    for (const dev of this.devs.values()) {
      boots += dev.boots.length;
      for (const b of dev.boots) intervals += b.iv.length / 2;
    }
    return { devices: this.devs.size, boots, intervals };
  }

  private findBoot(deviceId: string, bootId: string): BootAcks | undefined {
    const dev = this.devs.get(deviceId);
    if (!dev) return undefined;
    const boots = dev.boots;
    const hinted = boots[dev.hint];
    if (hinted !== undefined && hinted.id === bootId) return hinted;
    for (let i = 0; i < boots.length; i++) {
      if (boots[i].id === bootId) {
        dev.hint = i;
        return boots[i];
      }
    }
    return undefined;
  }

  /** The boot's entry, created (evicting the least recently acknowledged boot at the bound) when new. */
  private bootFor(deviceId: string, bootId: string, now: number): BootAcks {
    const found = this.findBoot(deviceId, bootId);
    if (found) return found;
    let dev = this.devs.get(deviceId);
    if (!dev) {
      dev = { boots: [], hint: 0 };
      this.devs.set(deviceId, dev);
    }
    let floor = 0;
    if (dev.evicted) {
      // An evicted boot that comes back: what it had acknowledged below its old high-water mark is unknown.
      const e = dev.evicted.findIndex((x) => x.id === bootId);
      if (e >= 0) floor = dev.evicted.splice(e, 1)[0].floor;
    }
    const boot: BootAcks = { id: bootId, lastAck: now, floor, iv: [] };
    if (dev.boots.length >= this.maxBootsPerDevice) {
      let oldest = 0;
      for (let i = 1; i < dev.boots.length; i++) if (dev.boots[i].lastAck < dev.boots[oldest].lastAck) oldest = i;
      const evicted = (dev.evicted ??= []);
      const old = dev.boots[oldest];
      evicted.push({ id: old.id, floor: old.iv.length > 0 ? Math.max(old.floor, old.iv[old.iv.length - 1] + 1) : old.floor });
      if (evicted.length > this.maxBootsPerDevice) evicted.shift();
      dev.boots[oldest] = boot;
      dev.hint = oldest;
      this.bootsEvicted++;
    } else {
      dev.boots.push(boot);
      dev.hint = dev.boots.length - 1;
    }
    return boot;
  }
}

/** Index (even) of the interval holding `seq`, or -1. The last interval is tried first. */
function indexOf(iv: number[], seq: number): number {
  const n = iv.length;
  if (n === 0) return -1;
  if (seq >= iv[n - 2]) return seq <= iv[n - 1] ? n - 2 : -1;
  let lo = 0;
  let hi = n / 2 - 2; // pairs 0 .. count-2 (the last pair was ruled out above)
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const p = mid * 2;
    if (seq < iv[p]) hi = mid - 1;
    else if (seq > iv[p + 1]) lo = mid + 1;
    else return p;
  }
  return -1;
}

function insert(boot: BootAcks, seq: number, ledger: AckedLedger): boolean {
  const iv = boot.iv;
  const n = iv.length;
  // The common case: the next seq of the newest interval (no allocation).
  if (n > 0 && seq === iv[n - 1] + 1) {
    iv[n - 1] = seq;
    return true;
  }
  if (n > 0 && seq >= iv[n - 2] && seq <= iv[n - 1]) return false;
  if (indexOf(iv, seq) >= 0) return false;
  insertRange(boot, seq, seq, ledger);
  return true;
}

/** Unites `[lo, hi]` into the boot's intervals, then applies the interval bound. */
function insertRange(boot: BootAcks, lo: number, hi: number, ledger: AckedLedger): void {
  const iv = boot.iv;
  // First pair whose hi reaches lo - 1 (adjacent pairs merge).
  let start = 0;
  while (start < iv.length && iv[start + 1] < lo - 1) start += 2;
  let end = start;
  let newLo = lo;
  let newHi = hi;
  while (end < iv.length && iv[end] <= hi + 1) {
    if (iv[end] < newLo) newLo = iv[end];
    if (iv[end + 1] > newHi) newHi = iv[end + 1];
    end += 2;
  }
  iv.splice(start, end - start, newLo, newHi);
  while (iv.length / 2 > ledger.maxIntervalsPerBoot) {
    // Forget the lowest interval: a retry of it is then stored again (counted by the caller via isForgotten).
    if (iv[1] + 1 > boot.floor) boot.floor = iv[1] + 1;
    iv.splice(0, 2);
    ledger.intervalsEvicted++;
  }
}

function parseBase36(s: string, deviceId: string): number {
  if (!/^[0-9a-z]{1,11}$/.test(s)) throw new Error(`acked record of ${deviceId}: "${s}" is not a base-36 number`);
  const n = parseInt(s, 36);
  if (!Number.isSafeInteger(n)) throw new Error(`acked record of ${deviceId}: "${s}" is out of range`);
  return n;
}

/**
 * What a store persists with one write: per device among `keys`, `durable`'s record plus those
 * seqs, serialized, in first-seen order; `durable` is not changed. `keys` yields (device_id,
 * boot_id, seq) through the callback it is given. `earlier` yields seqs of earlier writes of the
 * same store that are stored whenever this one is; they count only for devices `keys` named (the
 * others' records were written with those writes).
 */
export function recordsWith(
  durable: AckedLedger,
  keys: (visit: (deviceId: string, bootId: string, seq: number) => void) => void,
  now: number,
  earlier?: (visit: (deviceId: string, bootId: string, seq: number) => void) => void,
): [deviceId: string, record: string][] {
  let scratch: AckedLedger | null = null;
  const out: [string, string][] = [];
  keys((deviceId, bootId, seq) => {
    scratch ??= new AckedLedger({ maxBootsPerDevice: durable.maxBootsPerDevice, maxIntervalsPerBoot: durable.maxIntervalsPerBoot });
    if (!scratch.hasDevice(deviceId)) {
      scratch.copyDevice(durable, deviceId);
      out.push([deviceId, '']);
    }
    scratch.add(deviceId, bootId, seq, now);
  });
  if (scratch === null) return out;
  const s: AckedLedger = scratch;
  earlier?.((deviceId, bootId, seq) => {
    if (s.hasDevice(deviceId)) s.add(deviceId, bootId, seq, now);
  });
  for (const entry of out) entry[1] = s.serialize(entry[0]);
  return out;
}
