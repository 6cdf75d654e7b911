import type BetterSqlite3 from 'better-sqlite3';
import { BSON } from 'mongodb';
import type { PartDoc } from './parts.ts';
import type { UploadFailure } from './errors.ts';

/**
 * Parts Atlas refused (a validation rule, a document too large, a unique index of its own): they
 * wait here, in the buffer's SQLite file, so they no longer hold back their window. The window
 * commits and its readings are deleted locally as usual (the store deletes by position, not by
 * group); the refused part's readings live on in this table, as the document that was refused
 * (BSON, so every type survives), until `iotgw upload --retry-quarantine` gets it into Atlas after
 * the operator's fix. Counted in `GET /stats` (`upload.quarantine`) and `/metrics`.
 */
export interface QuarantinedPart {
  part_id: string;
  window: number;
  group_id: string;
  hour: number;
  readings: number;
  bytes: number;
  reason: string;
  code: number | null;
  created_at: number;
  attempts: number;
  last_attempt_at: number;
}

type Db = BetterSqlite3.Database;

export class Quarantine {
  constructor(private readonly db: Db) {}

  /** Creates the table (idempotent); with the manifest's. */
  migrate(): void {
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS upload_quarantine (
        part_id TEXT PRIMARY KEY,
        window INTEGER NOT NULL,
        group_id TEXT NOT NULL,
        hour INTEGER NOT NULL,
        readings INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        reason TEXT NOT NULL,
        code INTEGER,
        created_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 1,
        last_attempt_at INTEGER NOT NULL,
        doc BLOB NOT NULL
      );
    `);
  }

  /** Sets a refused part aside (or replaces the copy a replay refused again, keeping when it first came). */
  put(part: PartDoc, window: number, failure: UploadFailure, now: number): void {
    const doc = BSON.serialize(part);
    this.db.prepare(`
      INSERT INTO upload_quarantine (part_id, window, group_id, hour, readings, bytes, reason, code, created_at, last_attempt_at, doc)
      VALUES (@part_id, @window, @group_id, @hour, @readings, @bytes, @reason, @code, @now, @now, @doc)
      ON CONFLICT (part_id) DO UPDATE SET readings = excluded.readings, bytes = excluded.bytes, reason = excluded.reason,
        code = excluded.code, attempts = attempts + 1, last_attempt_at = excluded.last_attempt_at, doc = excluded.doc
    `).run({ part_id: part._id, window, group_id: part.group_id, hour: part.hour.getTime(), readings: part.count, bytes: doc.byteLength, reason: failure.reason, code: failure.code ?? null, now, doc });
  }

  /** A retry was refused again: the new reason. */
  refusedAgain(partId: string, failure: UploadFailure, now: number): void {
    this.db.prepare('UPDATE upload_quarantine SET reason = ?, code = ?, attempts = attempts + 1, last_attempt_at = ? WHERE part_id = ?').run(failure.reason, failure.code ?? null, now, partId);
  }

  remove(partId: string): void {
    this.db.prepare('DELETE FROM upload_quarantine WHERE part_id = ?').run(partId);
  }

  /** `_id`s set aside from one window (a replay that gets them through takes them back out). */
  idsOf(window: number): Set<string> {
    return new Set((this.db.prepare('SELECT part_id FROM upload_quarantine WHERE window = ?').all(window) as { part_id: string }[]).map((r) => r.part_id));
  }

  summary(): { parts: number; readings: number } {
    const row = this.db.prepare('SELECT count(*) AS parts, coalesce(sum(readings), 0) AS readings FROM upload_quarantine').get() as { parts: number; readings: number };
    return { parts: row.parts, readings: row.readings };
  }

  /** Every quarantined part, oldest first, without its document. */
  list(): QuarantinedPart[] {
    return this.db.prepare('SELECT part_id, window, group_id, hour, readings, bytes, reason, code, created_at, attempts, last_attempt_at FROM upload_quarantine ORDER BY created_at, part_id').all() as QuarantinedPart[];
  }

  load(partId: string): PartDoc | null {
    const row = this.db.prepare('SELECT doc FROM upload_quarantine WHERE part_id = ?').get(partId) as { doc: Buffer } | undefined;
    return row ? (BSON.deserialize(row.doc) as PartDoc) : null;
  }
}
