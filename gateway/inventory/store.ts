import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DeviceState, FirmwareEvent } from './types.ts';

/** One row of the `devices` table: the persisted part of a device (times epoch ms). */
export interface DeviceRow {
  device_id: string;
  group_id: string | null;
  device_type: string | null;
  addresses: string[];
  firmware: string | null;
  mac: string | null;
  host: string | null;
  port: number | null;
  first_seen: number;
  last_announcement: number | null;
  last_reading: number | null;
  goodbye_at: number | null;
  state: DeviceState;
  fw_event: FirmwareEvent | null;
}

/**
 * The inventory's own table in the gateway's SQLite file. Its own connection (WAL, so the buffer's
 * writers are not blocked), synchronous=NORMAL: losing the last few seconds of inventory to a power
 * cut is harmless, the next announcement or reading restores it.
 */
export class DeviceStore {
  private db: Database.Database | null = null;
  private upsert!: Database.Statement;

  constructor(private readonly path: string) {}

  open(): void {
    mkdirSync(dirname(this.path), { recursive: true });
    const db = new Database(this.path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    db.exec(`CREATE TABLE IF NOT EXISTS devices (
      device_id TEXT PRIMARY KEY,
      group_id TEXT, device_type TEXT, addresses TEXT NOT NULL DEFAULT '[]',
      firmware TEXT, mac TEXT, host TEXT, port INTEGER,
      first_seen INTEGER NOT NULL, last_announcement INTEGER, last_reading INTEGER, goodbye_at INTEGER,
      state TEXT NOT NULL, updated_at INTEGER NOT NULL
    )`);
    // Added with firmware updates: a table from before gets the column, empty.
    const columns = db.prepare('PRAGMA table_info(devices)').all() as { name: string }[];
    if (!columns.some((c) => c.name === 'fw_event')) db.exec('ALTER TABLE devices ADD COLUMN fw_event TEXT');
    this.upsert = db.prepare(`INSERT INTO devices (device_id, group_id, device_type, addresses, firmware, mac, host, port,
        first_seen, last_announcement, last_reading, goodbye_at, state, fw_event, updated_at)
      VALUES (@device_id, @group_id, @device_type, @addresses, @firmware, @mac, @host, @port,
        @first_seen, @last_announcement, @last_reading, @goodbye_at, @state, @fw_event, @updated_at)
      ON CONFLICT(device_id) DO UPDATE SET group_id=excluded.group_id, device_type=excluded.device_type,
        addresses=excluded.addresses, firmware=excluded.firmware, mac=excluded.mac, host=excluded.host, port=excluded.port,
        first_seen=excluded.first_seen, last_announcement=excluded.last_announcement, last_reading=excluded.last_reading,
        goodbye_at=excluded.goodbye_at, state=excluded.state, fw_event=excluded.fw_event, updated_at=excluded.updated_at`);
    this.db = db;
  }

  /** Every stored device; rows that cannot be read are skipped (and returned as `bad`). */
  load(): { rows: DeviceRow[]; bad: number } {
    if (!this.db) throw new Error('device store is not open');
    const rows: DeviceRow[] = [];
    let bad = 0;
    for (const r of this.db.prepare('SELECT * FROM devices').all() as Record<string, unknown>[]) {
      try {
        const addresses = JSON.parse(String(r.addresses)) as unknown;
        if (!Array.isArray(addresses) || typeof r.device_id !== 'string' || typeof r.first_seen !== 'number') throw new Error('bad row');
        rows.push({
          device_id: r.device_id, group_id: str(r.group_id), device_type: str(r.device_type),
          addresses: addresses.filter((a): a is string => typeof a === 'string'),
          firmware: str(r.firmware), mac: str(r.mac), host: str(r.host), port: num(r.port),
          first_seen: r.first_seen, last_announcement: num(r.last_announcement), last_reading: num(r.last_reading),
          goodbye_at: num(r.goodbye_at), state: String(r.state) as DeviceState, fw_event: fwEvent(r.fw_event),
        });
      } catch {
        bad++;
      }
    }
    return { rows, bad };
  }

  /** Writes the given devices in one transaction. */
  save(rows: DeviceRow[], now: number): void {
    if (!this.db || rows.length === 0) return;
    const tx = this.db.transaction((list: DeviceRow[]) => {
      for (const r of list) this.upsert.run({ ...r, addresses: JSON.stringify(r.addresses), fw_event: r.fw_event ? JSON.stringify(r.fw_event) : null, updated_at: now });
    });
    tx(rows);
  }

  delete(ids: string[]): void {
    if (!this.db || ids.length === 0) return;
    const stmt = this.db.prepare('DELETE FROM devices WHERE device_id = ?');
    this.db.transaction((list: string[]) => { for (const id of list) stmt.run(id); })(ids);
  }

  close(): void {
    this.db?.close();
    this.db = null;
  }
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' ? v : null);

/** The stored event, or null for none or one that cannot be read (the next report restores it). */
function fwEvent(v: unknown): FirmwareEvent | null {
  if (typeof v !== 'string') return null;
  try {
    const e = JSON.parse(v) as FirmwareEvent;
    return typeof e?.state === 'string' && typeof e.version === 'string' && typeof e.at === 'number' ? e : null;
  } catch {
    return null;
  }
}
