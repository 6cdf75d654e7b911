// Int64 values as mongod keeps them. The wire layer reads BSON with `promoteLongs: false`, so an
// int64 a client stores stays a `Long` and goes back as an int64 (a driver reading with
// `promoteLongs: false` or `useBigInt64` sees the type it wrote; pymongo sees an int, not a
// float). mingo compares numbers, not Long objects, so queries, sorts and aggregations run on a
// numeric view of a document (Long → number within ±2^53), and command control fields (limits,
// batch sizes, filters, pipelines, txnNumber) are read as numbers. What is stored is the document
// as sent.
//
// Not faithful: arithmetic on a stored Long ($inc, $mul, aggregation operators) sees a Long
// object, not a number; an aggregation's results carry numbers where the input had Longs.
import type { Document } from 'bson';

const isLong = (v: unknown): v is { _bsontype: 'Long'; toString(): string } =>
  typeof v === 'object' && v !== null && (v as { _bsontype?: string })._bsontype === 'Long';

const isContainer = (v: unknown): v is Document =>
  typeof v === 'object' && v !== null && (Array.isArray(v) || (v as object).constructor === Object);

function toNumber(v: { toString(): string }): number | unknown {
  const n = Number(v.toString());
  return Number.isSafeInteger(n) ? n : v;
}

/** A copy of `v` with every Long inside ±2^53 as a number (arrays and plain objects copied, the rest shared). */
export function numbersFor<T>(v: T): T {
  if (isLong(v)) return toNumber(v) as T;
  if (!isContainer(v)) return v;
  if (Array.isArray(v)) return v.map(numbersFor) as T;
  const out: Document = {};
  for (const k of Object.keys(v)) out[k] = numbersFor((v as Document)[k]);
  return out as T;
}

function containsLong(v: unknown): boolean {
  if (isLong(v)) return true;
  if (!isContainer(v)) return false;
  if (Array.isArray(v)) return v.some(containsLong);
  for (const k in v) if (containsLong((v as Document)[k])) return true;
  return false;
}

const views = new WeakMap<Document, Document>();

/**
 * What mingo evaluates a stored document as: the document itself when it holds no Long (nearly
 * always), else a cached copy with numbers. Stored documents are immutable (store.ts), so the
 * cache stays valid.
 */
export function numericView(doc: Document): Document {
  let view = views.get(doc);
  if (!view) {
    view = containsLong(doc) ? numbersFor(doc) : doc;
    views.set(doc, view);
  }
  return view;
}

/** Fields whose values are stored as sent (documents and update specs); everything else is control. */
const STORED: Record<string, string> = { insert: 'documents', findAndModify: 'update', findandmodify: 'update' };

/** The command as handlers read it: control fields and filters with numbers, stored documents untouched. */
export function commandView(name: string, body: Document): Document {
  const out: Document = {};
  for (const k of Object.keys(body)) {
    const v = body[k];
    if (STORED[name] === k) out[k] = v;
    else if (name === 'update' && k === 'updates' && Array.isArray(v)) {
      out[k] = v.map((st: Document) => {
        const { u, ...rest } = st;
        return { ...numbersFor(rest), u };
      });
    } else out[k] = numbersFor(v);
  }
  return out;
}
