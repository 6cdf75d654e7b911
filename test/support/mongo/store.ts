// In-memory databases, collections and indexes (incl. unique enforcement).
//
// Documents are kept as deserialized BSON values and treated as immutable:
// an update builds a new object and swaps it in, so a cursor that still holds
// an old object keeps a consistent snapshot and no one mutates stored data.
import { deserialize, serialize, UUID, type Document } from 'bson';
import { Query } from 'mingo';
import { ServerError } from './errors.ts';
import { isOperatorObject, keyString, pathValues } from './keys.ts';
import { numericView } from './int64.ts';
import { FieldLookup, planCandidates } from './lookup.ts';

export interface IndexSpec extends Document {
  v: number;
  key: Document;
  name: string;
  unique?: boolean;
  sparse?: boolean;
  partialFilterExpression?: Document;
}

interface IndexState {
  spec: IndexSpec;
  fields: string[];
  /** Unique indexes other than _id_: index key string -> _id key string. */
  entries?: Map<string, string>;
  partial?: Query;
}

const rawCache = new WeakMap<Document, Buffer>();

/**
 * The BSON bytes of a document, serialized once per object and cached. Stored
 * documents are immutable, so the bytes stay valid; a read of a large document
 * (js-bson does ~20 MB/s) is paid once, not on every find.
 */
export function rawOf(doc: Document): Buffer {
  let raw = rawCache.get(doc);
  if (!raw) {
    const bytes = serialize(doc, { ignoreUndefined: true });
    raw = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    rawCache.set(doc, raw);
  }
  return raw;
}

/** Deep copy through BSON, so every BSON type survives (Date, ObjectId, Long, Decimal128, Binary...). */
export function cloneDoc<T extends Document>(doc: T): T {
  return deserialize(rawOf(doc), { promoteLongs: true }) as T;
}

function defaultIndexName(key: Document): string {
  return Object.entries(key)
    .map(([k, dir]) => `${k}_${dir}`)
    .join('_');
}

function optionsKey(spec: IndexSpec): string {
  return keyString({
    unique: !!spec.unique,
    sparse: !!spec.sparse,
    partial: spec.partialFilterExpression ?? null,
    ttl: spec.expireAfterSeconds ?? null,
  });
}

export class Collection {
  /** Documents by _id key string; a Map keeps insertion (natural) order. */
  readonly docs = new Map<string, Document>();
  readonly uuid = new UUID();
  private readonly indexStates: IndexState[] = [
    { spec: { v: 2, key: { _id: 1 }, name: '_id_' }, fields: ['_id'] },
  ];

  /** Lookups on indexes' first fields (lookup.ts), by index name: built when a query first can use one. */
  private readonly lookups = new Map<string, FieldLookup>();

  /** A query-style `validator` given to `create` (a $jsonSchema validator is recorded but not enforced). */
  private readonly validator: Query | null;

  constructor(
    readonly db: string,
    readonly name: string,
    readonly options: Document = {},
  ) {
    const v = options.validator;
    this.validator = v && typeof v === 'object' && Object.keys(v).length && !('$jsonSchema' in v) ? new Query(v) : null;
  }

  private validate(doc: Document): void {
    if (this.validator && !this.validator.test(numericView(doc))) {
      throw new ServerError(121, 'Document failed validation', { errInfo: { failingDocumentId: doc._id, details: {} } });
    }
  }

  get ns(): string {
    return `${this.db}.${this.name}`;
  }

  get indexes(): IndexSpec[] {
    return this.indexStates.map((s) => s.spec);
  }

  all(): Document[] {
    return [...this.docs.values()];
  }

  /**
   * The documents that may match `filter`, in natural order: a direct _id lookup when the filter
   * pins _id to a value, the documents an index lookup names when one applies (lookup.ts), else
   * every document. The caller still applies the filter.
   */
  candidates(filter: Document | undefined): Document[] {
    const id = filter?._id;
    if (id !== undefined && !isOperatorObject(id) && !(id instanceof RegExp) && !Array.isArray(id)) {
      const doc = this.docs.get(keyString(id));
      return doc ? [doc] : [];
    }
    const planned = filter ? planCandidates(filter, (field) => this.lookupFor(field)) : null;
    if (!planned) return this.all();
    const out: Document[] = [];
    if (planned.size === 0) return out;
    for (const [idKey, doc] of this.docs) if (planned.has(idKey)) out.push(doc);
    return out;
  }

  /** The lookup of an index whose first field is `field` (one whose second field pairs with it preferred), built on first use. */
  private lookupFor(field: string): FieldLookup | null {
    const states = this.indexStates.filter((st) => st.fields[0] === field);
    if (states.length === 0) return null;
    const made = states.map((st) => this.lookups.get(st.spec.name)).find((l) => l);
    if (made) return made;
    const chosen = states.map((st) => ({ st, lookup: new FieldLookup({ name: st.spec.name, fields: st.fields }) })).sort((a, b) => Number(!!b.lookup.paired) - Number(!!a.lookup.paired))[0];
    for (const [idKey, doc] of this.docs) chosen.lookup.add(doc, idKey);
    this.lookups.set(chosen.st.spec.name, chosen.lookup);
    return chosen.lookup;
  }

  insert(doc: Document): void {
    if (doc._id === undefined) throw new ServerError(2, 'document has no _id');
    if (Array.isArray(doc._id)) throw new ServerError(2, "can't use an array for _id");
    this.validate(doc);
    const idKey = keyString(doc._id);
    if (this.docs.has(idKey)) throw this.duplicate(this.indexStates[0], [doc._id]);
    const added = this.addKeys(doc, idKey);
    if (added) throw added;
    this.docs.set(idKey, doc);
    for (const l of this.lookups.values()) l.add(doc, idKey);
  }

  /** Swap `prev` for `next` (same _id), keeping unique indexes consistent. */
  replace(prev: Document, next: Document): void {
    const idKey = keyString(prev._id);
    if (keyString(next._id) !== idKey) {
      throw new ServerError(66, "Performing an update on the path '_id' would modify the immutable field '_id'");
    }
    this.validate(next);
    this.removeKeys(prev);
    const err = this.addKeys(next, idKey);
    if (err) {
      this.addKeys(prev, idKey);
      throw err;
    }
    this.docs.set(idKey, next);
    for (const l of this.lookups.values()) {
      l.remove(prev, idKey);
      l.add(next, idKey);
    }
  }

  remove(doc: Document): void {
    this.removeKeys(doc);
    const idKey = keyString(doc._id);
    this.docs.delete(idKey);
    for (const l of this.lookups.values()) l.remove(doc, idKey);
  }

  /** Returns false when an identical index already exists (idempotent create). */
  createIndex(input: Document): boolean {
    const state = this.prepareIndex(input);
    if (state) this.indexStates.push(state);
    return state !== null;
  }

  /**
   * Creates all of `inputs` or none, as mongod's createIndexes does: every spec is checked (name
   * and key conflicts with existing indexes and with each other, a unique build over the data)
   * before any is added. Returns how many were new.
   */
  createIndexes(inputs: Document[]): number {
    const states: IndexState[] = [];
    for (const input of inputs) {
      const state = this.prepareIndex(input);
      if (!state) continue;
      for (const other of states) {
        if (other.spec.name === state.spec.name) {
          throw new ServerError(86, `An index with name '${state.spec.name}' is requested twice with different keys or options`);
        }
      }
      states.push(state);
    }
    this.indexStates.push(...states);
    return states.length;
  }

  /** The state of a new index, null when an identical one exists; throws 67/85/86/11000 as mongod does. */
  private prepareIndex(input: Document): IndexState | null {
    const key = input.key;
    if (!key || typeof key !== 'object' || Object.keys(key).length === 0) {
      throw new ServerError(67, 'Index keys cannot be empty.');
    }
    const spec: IndexSpec = { ...input, v: 2, key, name: String(input.name ?? defaultIndexName(key)) };
    const keyStr = keyString(key);
    for (const s of this.indexStates) {
      const sameKey = keyString(s.spec.key) === keyStr;
      if (s.spec.name === spec.name) {
        if (!sameKey) {
          throw new ServerError(86, `An existing index has the same name as the requested index. When index names are not specified, they are auto generated and can cause conflicts. Please refer to our documentation. Requested index: ${JSON.stringify(spec)}, existing index: ${JSON.stringify(s.spec)}`);
        }
        if (s.spec.name === '_id_' || optionsKey(s.spec) === optionsKey(spec)) return null;
        throw new ServerError(85, `An equivalent index already exists with the same name but different options. Requested index: ${JSON.stringify(spec)}, existing index: ${JSON.stringify(s.spec)}`);
      }
      if (sameKey && optionsKey(s.spec) === optionsKey(spec)) {
        throw new ServerError(85, `Index already exists with a different name: ${s.spec.name}`);
      }
    }
    const state: IndexState = { spec, fields: Object.keys(key) };
    if (spec.partialFilterExpression) state.partial = new Query(spec.partialFilterExpression);
    if (spec.unique) {
      state.entries = new Map();
      for (const [idKey, doc] of this.docs) {
        const err = this.addKeysTo(state, doc, idKey);
        if (err) throw new ServerError(err.code, `Index build failed: ${this.ns}: ${err.message}`, err.extra);
      }
    }
    return state;
  }

  /** Drop by name, by key pattern, or '*' (all but _id_). Returns the count before. */
  dropIndex(which: unknown): number {
    const before = this.indexStates.length;
    if (which === '*') {
      this.indexStates.splice(1);
      this.lookups.clear();
      return before;
    }
    const i =
      typeof which === 'string'
        ? this.indexStates.findIndex((s) => s.spec.name === which)
        : this.indexStates.findIndex((s) => keyString(s.spec.key) === keyString(which));
    if (i < 0) throw new ServerError(27, `index not found with name [${typeof which === 'string' ? which : JSON.stringify(which)}]`);
    if (i === 0) throw new ServerError(72, 'cannot drop _id index');
    this.lookups.delete(this.indexStates[i].spec.name);
    this.indexStates.splice(i, 1);
    return before;
  }

  private indexKeys(state: IndexState, doc: Document): { keys: Map<string, unknown[]> } | null {
    if (state.partial && !state.partial.test(numericView(doc))) return null;
    const perField = state.fields.map((f) => pathValues(doc, f));
    if (state.spec.sparse && perField.every((vals) => vals.every((x) => x === undefined))) return null;
    let combos: unknown[][] = [[]];
    for (const vals of perField) combos = combos.flatMap((c) => vals.map((v) => [...c, v]));
    const keys = new Map<string, unknown[]>();
    for (const c of combos) keys.set(c.map(keyString).join('|'), c);
    return { keys };
  }

  private addKeysTo(state: IndexState, doc: Document, idKey: string): ServerError | null {
    const k = this.indexKeys(state, doc);
    if (!k || !state.entries) return null;
    for (const [key, values] of k.keys) {
      const owner = state.entries.get(key);
      if (owner !== undefined && owner !== idKey) return this.duplicate(state, values);
    }
    for (const key of k.keys.keys()) state.entries.set(key, idKey);
    return null;
  }

  /** Adds `doc` to every unique index, or adds nothing and returns the duplicate-key error. */
  private addKeys(doc: Document, idKey: string): ServerError | null {
    const done: IndexState[] = [];
    for (const state of this.indexStates) {
      if (!state.entries) continue;
      const err = this.addKeysTo(state, doc, idKey);
      if (err) {
        for (const s of done) this.removeKeysFrom(s, doc, idKey);
        return err;
      }
      done.push(state);
    }
    return null;
  }

  private removeKeysFrom(state: IndexState, doc: Document, idKey: string): void {
    const k = this.indexKeys(state, doc);
    if (!k || !state.entries) return;
    for (const key of k.keys.keys()) if (state.entries.get(key) === idKey) state.entries.delete(key);
  }

  private removeKeys(doc: Document): void {
    const idKey = keyString(doc._id);
    for (const state of this.indexStates) if (state.entries) this.removeKeysFrom(state, doc, idKey);
  }

  private duplicate(state: IndexState, values: unknown[]): ServerError {
    const keyValue: Document = {};
    state.fields.forEach((f, i) => (keyValue[f] = values[i] ?? null));
    const shown = state.fields.map((f, i) => `${f}: ${showValue(values[i])}`).join(', ');
    return new ServerError(
      11000,
      `E11000 duplicate key error collection: ${this.ns} index: ${state.spec.name} dup key: { ${shown} }`,
      { keyPattern: state.spec.key, keyValue },
    );
  }
}

function showValue(v: unknown): string {
  if (v === undefined || v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v);
  if (v instanceof Date) return `new Date(${v.getTime()})`;
  const o = v as { _bsontype?: string; toHexString?: () => string };
  if (o._bsontype === 'ObjectId') return `ObjectId('${o.toHexString!()}')`;
  return String(v);
}

const BAD_DB_CHARS = /[/\\. "$*<>:|?\0]/;

export class Store {
  private readonly dbs = new Map<string, Map<string, Collection>>();

  get(db: string, name: string): Collection | undefined {
    return this.dbs.get(db)?.get(name);
  }

  /** The collection, created on first use (implicit creation, as mongod does on a write). */
  ensure(db: string, name: string): Collection {
    const existing = this.get(db, name);
    return existing ?? this.create(db, name);
  }

  create(db: string, name: string, options: Document = {}): Collection {
    if (!db || BAD_DB_CHARS.test(db)) throw new ServerError(73, `Invalid database name: '${db}'`);
    if (typeof name !== 'string' || !name || name.includes('$') || name.includes('\0')) {
      throw new ServerError(73, `Invalid collection name: ${String(name)}`);
    }
    if (this.get(db, name)) throw new ServerError(48, `Collection ${db}.${name} already exists.`);
    let colls = this.dbs.get(db);
    if (!colls) this.dbs.set(db, (colls = new Map()));
    const c = new Collection(db, name, options);
    colls.set(name, c);
    return c;
  }

  drop(db: string, name: string): Collection | undefined {
    const c = this.get(db, name);
    if (!c) return undefined;
    const colls = this.dbs.get(db)!;
    colls.delete(name);
    if (colls.size === 0) this.dbs.delete(db);
    return c;
  }

  rename(from: Collection, toDb: string, toName: string): void {
    this.drop(from.db, from.name);
    const target = this.create(toDb, toName, from.options);
    for (const spec of from.indexes.slice(1)) target.createIndex(spec);
    for (const doc of from.docs.values()) target.insert(doc);
  }

  dropDatabase(db: string): void {
    this.dbs.delete(db);
  }

  databases(): string[] {
    return [...this.dbs.keys()];
  }

  collections(db: string): Collection[] {
    return [...(this.dbs.get(db)?.values() ?? [])];
  }

  clear(): void {
    this.dbs.clear();
  }
}
