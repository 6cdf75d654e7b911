import type { Reading } from '../reading.ts';

const HOUR = 3600_000;

interface HourCounts {
  hour: number;
  total: number;
  groups: Map<string, { count: number; devices: Map<string, number> }>;
}

/**
 * In-memory traffic figures for `GET /stats` and systemd's STATUS line: readings per group and
 * device in the current and the previous hour, and a one-minute rate. They restart from zero with
 * the daemon; the durable truth is in the buffer and in Atlas.
 */
export class TrafficStats {
  private current: HourCounts;
  private previous: HourCounts | null = null;
  /** Per-second buckets of the last minute, for readings/min without keeping timestamps. */
  private readonly seconds = new Float64Array(60);
  private readonly secondStamp = new Float64Array(60);

  constructor(private readonly now: () => number = Date.now) {
    this.current = emptyHour(Math.floor(now() / HOUR) * HOUR);
  }

  record(readings: Reading[]): void {
    const t = this.now();
    this.roll(t);
    const cur = this.current;
    cur.total += readings.length;
    for (const r of readings) {
      let g = cur.groups.get(r.group_id);
      if (!g) cur.groups.set(r.group_id, (g = { count: 0, devices: new Map() }));
      g.count++;
      g.devices.set(r.device_id, (g.devices.get(r.device_id) ?? 0) + 1);
    }
    const sec = Math.floor(t / 1000);
    const slot = sec % 60;
    if (this.secondStamp[slot] !== sec) {
      this.secondStamp[slot] = sec;
      this.seconds[slot] = 0;
    }
    this.seconds[slot] += readings.length;
  }

  perMinute(): number {
    const sec = Math.floor(this.now() / 1000);
    let sum = 0;
    for (let i = 0; i < 60; i++) if (sec - this.secondStamp[i] < 60) sum += this.seconds[i];
    return sum;
  }

  snapshot(): { current_hour: HourJson; previous_hour: HourJson | null; readings_last_minute: number } {
    this.roll(this.now());
    return { current_hour: toJson(this.current), previous_hour: this.previous ? toJson(this.previous) : null, readings_last_minute: this.perMinute() };
  }

  private roll(t: number): void {
    const hour = Math.floor(t / HOUR) * HOUR;
    if (hour === this.current.hour) return;
    this.previous = hour - this.current.hour === HOUR ? this.current : null;
    this.current = emptyHour(hour);
  }
}

type HourJson = { hour: string; total: number; groups: Record<string, { count: number; devices: Record<string, number> }> };

function emptyHour(hour: number): HourCounts {
  return { hour, total: 0, groups: new Map() };
}

function toJson(h: HourCounts): HourJson {
  const groups: HourJson['groups'] = {};
  for (const [id, g] of h.groups) groups[id] = { count: g.count, devices: Object.fromEntries(g.devices) };
  return { hour: new Date(h.hour).toISOString(), total: h.total, groups };
}
