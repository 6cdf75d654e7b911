import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { Reading } from '../reading.ts';
import { inventoryMetrics } from './metrics.ts';
import { MinuteCounter } from './rate-window.ts';
import { deviceState, type Thresholds } from './state.ts';
import { DeviceStore, type DeviceRow } from './store.ts';
import { DEVICE_STATES, FIRMWARE_STATES, type Announcement, type DeviceInfo, type DeviceState, type FirmwareEvent, type FirmwareState, type FirmwareStatus } from './types.ts';
import { updateReport } from '../firmware/rollout.ts';

export type { Announcement, DeviceInfo, DeviceState, FirmwareStatus } from './types.ts';

export interface InventoryOptions {
  config: Pick<Config, 'discovery'>;
  log: Logger;
  metrics: Pick<Metrics, 'registry'>;
  /** The gateway's SQLite file (`config.sqlite.path`); the inventory keeps its own `devices` table there. */
  dbPath: string | null;
  /** Epoch ms; tests inject a fake clock. */
  clock?: () => number;
  /** How often states are re-evaluated (silence is not an event). Default 1000 ms; 0 = never (tests call `evaluate()`). */
  tickMs?: number;
  /** How often changed devices are written to SQLite. Default 5000 ms; 0 = only on `stop()`/`flush()`. */
  persistIntervalMs?: number;
  /** Bound on the number of devices kept; past it, the longest-silent device is forgotten. Default 10000. */
  maxDevices?: number;
}

interface Device extends DeviceRow {
  rate: MinuteCounter;
}

const MAX_ADDRESSES = 8;

/**
 * Every device the gateway knows of, merged from what discovery saw (announcements, goodbyes)
 * and what intake stored (readings), with a liveness state (see state.ts). Cheap on the hot path:
 * `recordReadings` touches memory only; a timer persists changed devices.
 */
export class Inventory {
  private readonly devices = new Map<string, Device>();
  private readonly dirty = new Set<string>();
  private readonly removed = new Set<string>();
  private readonly thresholds: Thresholds;
  private readonly clock: () => number;
  private readonly log: Logger;
  private readonly series;
  private store: DeviceStore | null;
  private timers: NodeJS.Timeout[] = [];
  private readonly maxDevices: number;
  /** The version the firmware rollout wants a group to run (gateway/firmware/rollout.ts); none until the gateway sets it. */
  private firmwareTarget: (groupId: string) => string | null = () => null;

  constructor(private readonly opts: InventoryOptions) {
    const d = opts.config.discovery;
    this.thresholds = { expectedMs: d.expected_interval_seconds * 1000, staleMs: d.stale_after_seconds * 1000, offlineMs: d.offline_after_seconds * 1000 };
    this.clock = opts.clock ?? Date.now;
    this.log = opts.log.child({ component: 'inventory' });
    this.series = inventoryMetrics(opts.metrics.registry);
    this.store = opts.dbPath ? new DeviceStore(opts.dbPath) : null;
    this.maxDevices = opts.maxDevices ?? 10000;
    if (d.offline_after_seconds <= Math.max(d.expected_interval_seconds, d.stale_after_seconds)) {
      this.log.warn({ offline_after_seconds: d.offline_after_seconds, stale_after_seconds: d.stale_after_seconds }, 'discovery.offline_after_seconds is not above stale_after_seconds/expected_interval_seconds: devices go from online straight to offline');
    }
  }

  async start(): Promise<void> {
    if (this.store) {
      try {
        this.store.open();
        const { rows, bad } = this.store.load();
        for (const r of rows) this.devices.set(r.device_id, { ...r, rate: new MinuteCounter() });
        if (bad > 0) this.log.warn({ bad }, 'skipped unreadable rows of the devices table');
        this.log.info({ devices: rows.length }, 'device inventory loaded');
      } catch (err) {
        this.log.warn({ err: (err as Error).message, path: this.opts.dbPath }, 'device inventory cannot use SQLite; it is kept in memory only and starts empty after a restart');
        this.store.close();
        this.store = null;
      }
    }
    this.evaluate();
    const tick = this.opts.tickMs ?? 1000;
    if (tick > 0) this.timers.push(setInterval(() => this.evaluate(), tick).unref());
    const persist = this.opts.persistIntervalMs ?? 5000;
    if (persist > 0) this.timers.push(setInterval(() => this.flush(), persist).unref());
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.evaluate();
    this.flush();
    this.store?.close();
  }

  /** The rollout's answer to "which version should group G run", for each device's firmware state. */
  useFirmwareTargets(target: (groupId: string) => string | null): void {
    this.firmwareTarget = target;
  }

  /**
   * The image route served (part of) an image to a device: it is downloading. Called when the
   * response starts (bytes = where it starts) and when it ends (bytes sent up to there).
   */
  recordDownload(deviceId: string, version: string, bytes: number, size: number): void {
    const d = this.devices.get(deviceId);
    if (!d) return;
    d.fw_event = { state: 'downloading', version, reason: null, at: this.clock(), bytes, size };
    this.dirty.add(deviceId);
  }

  /** Intake calls this after each durable batch: O(batch), memory only. */
  recordReadings(readings: Reading[], remoteAddress?: string): void {
    const address = remoteAddress ? normalizeAddress(remoteAddress) : null;
    // Most requests carry one reading: no set for them.
    if (readings.length === 1) return this.settle(this.note(readings[0]), address);
    const touched = new Set<Device>();
    for (const r of readings) touched.add(this.note(r));
    for (const d of touched) this.settle(d, address);
  }

  private note(r: Reading): Device {
    const d = this.touch(r.device_id, r.received_at);
    if (d.last_reading === null || r.received_at > d.last_reading) d.last_reading = r.received_at;
    d.group_id = r.group_id;
    const type = r.doc.device_type;
    if (typeof type === 'string' && type.length > 0) d.device_type = type;
    d.rate.add(r.received_at);
    const fw = r.doc.fw;
    if (typeof fw === 'string' && fw !== '') d.firmware = fw;
    if (r.doc.fw_update !== undefined) this.noteUpdate(d, r);
    return d;
  }

  /** A reading's `fw_update`: the same report repeated (until one reading carrying it is acked) keeps its first time. */
  private noteUpdate(d: Device, r: Reading): void {
    const u = updateReport(r.doc);
    if (!u) return;
    const e = d.fw_event;
    if (e && e.state === u.state && e.version === u.version && e.reason === u.reason) return;
    d.fw_event = { state: u.state, version: u.version, reason: u.reason, at: r.received_at };
  }

  private settle(d: Device, address: string | null): void {
    // The usual case: the device posts from the address it had, and no array is made.
    if (address && d.addresses[0] !== address) d.addresses = mergeAddresses([address], d.addresses);
    this.dirty.add(d.device_id);
    this.update(d, this.clock());
  }

  /** Discovery resolved (or refreshed) a `_iotgw-dev._tcp` instance. */
  recordAnnouncement(a: Announcement): void {
    if (!a.id) return;
    const now = this.clock();
    const d = this.touch(a.id, now);
    d.last_announcement = now;
    if (a.group) d.group_id = a.group;
    if (a.fw) d.firmware = a.fw;
    if (a.mac) d.mac = a.mac;
    if (a.host !== undefined) d.host = a.host ?? null;
    if (a.port !== undefined) d.port = a.port ?? null;
    if (a.addresses.length > 0) d.addresses = mergeAddresses(a.addresses.map(normalizeAddress), d.addresses);
    this.dirty.add(d.device_id);
    this.update(d, now);
  }

  /** The device withdrew its records (TTL 0), or all of them expired. */
  recordGoodbye(id: string): void {
    const d = this.devices.get(id);
    if (!d) return;
    d.goodbye_at = this.clock();
    this.dirty.add(id);
    this.update(d, d.goodbye_at);
  }

  list(): DeviceInfo[] {
    const now = this.evaluate();
    return [...this.devices.values()].sort((a, b) => a.device_id.localeCompare(b.device_id)).map((d) => this.info(d, now));
  }

  get(id: string): DeviceInfo | undefined {
    const d = this.devices.get(id);
    if (!d) return undefined;
    const now = this.clock();
    this.update(d, now);
    return this.info(d, now);
  }

  /** Re-computes every state (logging and counting changes), refreshes the gauges; returns the time used. */
  evaluate(): number {
    const now = this.clock();
    const counts = Object.fromEntries(DEVICE_STATES.map((s) => [s, 0])) as Record<DeviceState, number>;
    const fwCounts = Object.fromEntries(FIRMWARE_STATES.map((s) => [s, 0])) as Record<FirmwareState, number>;
    for (const d of this.devices.values()) {
      counts[this.update(d, now)]++;
      const fw = this.firmwareStatus(d).state;
      if (fw) fwCounts[fw]++;
    }
    this.series.setCounts(counts);
    this.series.setFirmwareCounts(fwCounts);
    return now;
  }

  /** Writes changed devices to SQLite now. */
  flush(): void {
    if (!this.store) return;
    try {
      this.store.delete([...this.removed]);
      this.removed.clear();
      const rows = [...this.dirty].map((id) => this.devices.get(id)).filter((d): d is Device => d !== undefined).map(toRow);
      this.dirty.clear();
      this.store.save(rows, this.clock());
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'could not persist the device inventory; will retry');
    }
  }

  private touch(id: string, now: number): Device {
    let d = this.devices.get(id);
    if (!d) {
      if (this.devices.size >= this.maxDevices) this.evictOne();
      d = {
        device_id: id, group_id: null, device_type: null, addresses: [], firmware: null, mac: null, host: null, port: null,
        first_seen: now, last_announcement: null, last_reading: null, goodbye_at: null, state: 'discovered', fw_event: null, rate: new MinuteCounter(),
      };
      this.devices.set(id, d);
      this.removed.delete(id);
      this.log.info({ device_id: id }, 'new device');
    }
    return d;
  }

  private evictOne(): void {
    let victim: Device | null = null;
    for (const d of this.devices.values()) {
      if (!victim || lastHeard(d) < lastHeard(victim)) victim = d;
    }
    if (!victim) return;
    this.devices.delete(victim.device_id);
    this.dirty.delete(victim.device_id);
    this.removed.add(victim.device_id);
    this.log.warn({ device_id: victim.device_id, max_devices: this.maxDevices }, 'device inventory is full; forgot the longest-silent device');
  }

  /** Applies the state rules to one device; a change is logged once and counted. */
  private update(d: Device, now: number): DeviceState {
    const state = deviceState({ lastReading: d.last_reading, lastAnnouncement: d.last_announcement, goodbyeAt: d.goodbye_at }, now, this.thresholds);
    if (state !== d.state) {
      this.log.info({ device_id: d.device_id, from: d.state, to: state }, `device ${d.device_id} is ${state}`);
      this.series.changed(state);
      d.state = state;
      this.dirty.add(d.device_id);
    }
    return state;
  }

  private info(d: Device, now: number): DeviceInfo {
    return {
      device_id: d.device_id, group_id: d.group_id, device_type: d.device_type, addresses: [...d.addresses],
      firmware: this.firmwareStatus(d), mac: d.mac, first_seen: iso(d.first_seen), last_announcement: isoOrNull(d.last_announcement),
      last_reading: isoOrNull(d.last_reading), readings_last_minute: d.rate.total(now), state: d.state,
    };
  }

  /**
   * The update state shown for a device: its last event when it concerns the version its group
   * should run (or nothing targets the group any more); else `pending` while it runs something
   * other than its target; else none.
   */
  private firmwareStatus(d: Device): FirmwareStatus {
    const target = d.group_id === null ? null : this.firmwareTarget(d.group_id);
    const e = d.fw_event;
    const status: FirmwareStatus = { version: d.firmware, target, state: null, reason: null, at: null };
    if (e && (target === null || e.version === target)) {
      status.state = e.state;
      status.reason = e.reason;
      status.at = iso(e.at);
      if (e.state === 'downloading' && e.bytes !== undefined && e.size !== undefined) status.progress = { bytes: e.bytes, size: e.size };
    } else if (target !== null && d.firmware !== null && d.firmware !== target) {
      status.state = 'pending';
    }
    return status;
  }
}

function toRow(d: Device): DeviceRow {
  const { rate: _rate, ...row } = d;
  return { ...row, addresses: [...d.addresses] };
}

const lastHeard = (d: Device): number => Math.max(d.last_reading ?? 0, d.last_announcement ?? 0, d.first_seen);
const iso = (ms: number): string => new Date(ms).toISOString();
const isoOrNull = (ms: number | null): string | null => (ms === null ? null : iso(ms));

/** `::ffff:10.0.0.5` (an IPv4 peer on a dual-stack socket) → `10.0.0.5`. */
export function normalizeAddress(a: string): string {
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

function mergeAddresses(fresh: string[], old: string[]): string[] {
  return [...new Set([...fresh, ...old])].slice(0, MAX_ADDRESSES);
}
