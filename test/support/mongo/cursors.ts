// Server-side cursors: first batch, getMore, killCursors. A cursor holds the
// result snapshot (stored documents are never mutated in place, see store.ts).
import type { Document } from 'bson';
import { ServerError } from './errors.ts';
import { rawOf } from './store.ts';
import { cursorReply, type RawReply } from './wire.ts';

/** mongod's default first batch is 101 documents. */
const DEFAULT_FIRST_BATCH = 101;
/** A batch stops before its documents pass 16 MiB (at least one document is always sent). */
const MAX_BATCH_BYTES = 16 * 1024 * 1024 - 16 * 1024;

interface OpenCursor {
  ns: string;
  docs: Document[];
  pos: number;
}

/** Cursor ids travel as BSON int64; ids we hand out stay below 2^53. */
export function cursorIdOf(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v && typeof v === 'object' && 'toNumber' in v) return (v as { toNumber(): number }).toNumber();
  throw new ServerError(14, `cursor id must be a long, got ${typeof v}`, {}, 'TypeMismatch');
}

export class CursorRegistry {
  private readonly open = new Map<number, OpenCursor>();
  private nextId = 1 + Math.floor(Math.random() * 1e9) * 1000;

  get size(): number {
    return this.open.size;
  }

  private takeBatch(c: OpenCursor, batchSize: number | undefined): Buffer[] {
    const limit = batchSize && batchSize > 0 ? batchSize : Infinity;
    const batch: Buffer[] = [];
    let bytes = 0;
    while (c.pos < c.docs.length && batch.length < limit) {
      const raw = rawOf(c.docs[c.pos]);
      if (batch.length > 0 && bytes + raw.length > MAX_BATCH_BYTES) break;
      bytes += raw.length;
      batch.push(raw);
      c.pos++;
    }
    return batch;
  }

  /** Reply for a command that starts a cursor (find, aggregate, listCollections, listIndexes). */
  first(ns: string, docs: Document[], opts: { batchSize?: number; singleBatch?: boolean } = {}): RawReply {
    const c: OpenCursor = { ns, docs, pos: 0 };
    const batchSize = opts.batchSize ?? DEFAULT_FIRST_BATCH;
    const firstBatch = batchSize === 0 ? [] : this.takeBatch(c, batchSize);
    let id = 0;
    if (!opts.singleBatch && c.pos < c.docs.length) {
      id = this.nextId++;
      this.open.set(id, c);
    }
    return cursorReply('firstBatch', firstBatch, id, ns);
  }

  getMore(body: Document, db: string): RawReply {
    const id = cursorIdOf(body.getMore);
    const c = this.open.get(id);
    const ns = `${db}.${String(body.collection)}`;
    if (!c) throw new ServerError(43, `cursor id ${id} not found`);
    if (c.ns !== ns) {
      throw new ServerError(13, `Requested getMore on namespace '${ns}', but cursor belongs to a different namespace ${c.ns}`);
    }
    const nextBatch = this.takeBatch(c, typeof body.batchSize === 'number' ? body.batchSize : undefined);
    let outId = id;
    if (c.pos >= c.docs.length) {
      this.open.delete(id);
      outId = 0;
    }
    return cursorReply('nextBatch', nextBatch, outId, ns);
  }

  kill(body: Document): Document {
    const ids = Array.isArray(body.cursors) ? body.cursors : [];
    const cursorsKilled: bigint[] = [];
    const cursorsNotFound: bigint[] = [];
    for (const raw of ids) {
      const id = cursorIdOf(raw);
      (this.open.delete(id) ? cursorsKilled : cursorsNotFound).push(BigInt(id));
    }
    return { cursorsKilled, cursorsNotFound, cursorsAlive: [], cursorsUnknown: [], ok: 1 };
  }

  clear(): void {
    this.open.clear();
  }
}
