/**
 * The page's state, fed by the event stream: devices as `GET /devices` describes them, each
 * device's newest reading, and which boards are new. No DOM here, so node:test covers it.
 */

export interface Device {
  device_id: string;
  group_id: string | null;
  device_type: string | null;
  addresses: string[];
  firmware: unknown;
  first_seen: string;
  last_reading: string | null;
  readings_last_minute: number;
  state: 'discovered' | 'online' | 'stale' | 'offline';
  [more: string]: unknown;
}

export type Reading = Record<string, unknown> & { device_id: string; timestamp?: string };

/** How long a board that just appeared, or just sent its first reading, stays highlighted. */
export const HIGHLIGHT_MS = 90_000;

export interface Filter {
  group: string;
  search: string;
}

export class PageModel {
  readonly devices = new Map<string, Device>();
  readonly latest = new Map<string, Reading>();
  private readonly highlightUntil = new Map<string, number>();

  /** A `devices` event: `full` replaces the list (first event of a stream), else upserts and removes. */
  applyDevices(msg: { full?: boolean; devices: Device[]; removed?: string[] }, now: number): void {
    if (msg.full) {
      this.devices.clear();
      for (const d of msg.devices) {
        this.devices.set(d.device_id, d);
        if (now - Date.parse(d.first_seen) < HIGHLIGHT_MS) this.highlightUntil.set(d.device_id, Date.parse(d.first_seen) + HIGHLIGHT_MS);
      }
      return;
    }
    for (const d of msg.devices) {
      const before = this.devices.get(d.device_id);
      // New to this page, or reporting for the first time: "my board is here".
      if (!before || (before.last_reading === null && d.last_reading !== null)) this.highlightUntil.set(d.device_id, now + HIGHLIGHT_MS);
      this.devices.set(d.device_id, d);
    }
    for (const id of msg.removed ?? []) {
      this.devices.delete(id);
      this.latest.delete(id);
    }
  }

  /** A `readings` event: the newest reading of each device that reported. */
  applyReadings(readings: Reading[]): void {
    for (const r of readings) {
      const old = this.latest.get(r.device_id);
      if (!old || String(r.timestamp ?? '') >= String(old.timestamp ?? '')) this.latest.set(r.device_id, r);
    }
  }

  isNew(id: string, now: number): boolean {
    return (this.highlightUntil.get(id) ?? 0) > now;
  }

  groups(): string[] {
    return [...new Set([...this.devices.values()].map((d) => d.group_id).filter((g): g is string => !!g))].sort();
  }

  /** The devices to show: filtered by group and id, new boards first, then by id. */
  visible(filter: Filter, now: number): Device[] {
    const q = filter.search.trim().toLowerCase();
    return [...this.devices.values()]
      .filter((d) => (!filter.group || d.group_id === filter.group) && (!q || d.device_id.toLowerCase().includes(q)))
      .sort((a, b) => Number(this.isNew(b.device_id, now)) - Number(this.isNew(a.device_id, now)) || a.device_id.localeCompare(b.device_id));
  }

  /** Counts by state for the summary line. */
  stateCounts(): Record<Device['state'], number> {
    const c = { discovered: 0, online: 0, stale: 0, offline: 0 };
    for (const d of this.devices.values()) c[d.state] = (c[d.state] ?? 0) + 1;
    return c;
  }
}
