// Command handlers that read and write documents: insert, update, delete,
// findAndModify, find, count, distinct, aggregate. Query, update and
// aggregation semantics come from mingo.
import { ObjectId, type Document } from 'bson';
import { Aggregator, find as mingoFind, ProcessingMode, Query } from 'mingo';
import type { CursorRegistry } from './cursors.ts';
import type { Reply } from './wire.ts';
import { injectedToServerError, ServerError, toServerError } from './errors.ts';
import type { Faults, WriteStatement } from './faults.ts';
import { keyString, pathValues } from './keys.ts';
import type { Collection, Store } from './store.ts';
import { applyUpdate, idFirst, isReplacement, upsertDocument } from './update.ts';
import { numericView } from './int64.ts';
import { EXPRESSION_CONTEXT } from './expressions.ts';

export interface CommandContext {
  store: Store;
  cursors: CursorRegistry;
  faults: Faults;
  connectionId: number;
  db: string;
  /** Fields the handshake adds for the server's topology: {} for a standalone, setName & co. for a replica set. */
  topology: Document;
}

export type Handler = (body: Document, ctx: CommandContext) => Reply;

function collName(body: Document, cmd: string): string {
  const name = body[cmd];
  if (typeof name !== 'string' || !name) throw new ServerError(73, `collection name has invalid type ${typeof name}`);
  return name;
}

function select(coll: Collection | undefined, filter: Document | undefined): Document[] {
  if (!coll) return [];
  const f = filter ?? {};
  const candidates = coll.candidates(f);
  if (Object.keys(f).length === 0) return candidates;
  const q = new Query(f);
  return candidates.filter((d) => q.test(numericView(d)));
}

const nonEmpty = (d: unknown): d is Document => !!d && typeof d === 'object' && Object.keys(d).length > 0;

/** filter + sort + skip + limit + projection, all through mingo (sorting on the numeric views, int64.ts). */
function query(coll: Collection | undefined, o: { filter?: Document; sort?: Document; skip?: number; limit?: number; projection?: Document }): Document[] {
  let matched = select(coll, o.filter);
  let sort = o.sort;
  if (nonEmpty(sort) && '$natural' in sort) {
    // Natural order is insertion order here.
    const { $natural, ...rest } = sort;
    if ($natural === -1) matched = matched.slice().reverse();
    sort = rest;
  }
  const projection = nonEmpty(o.projection) ? o.projection : undefined;
  if (nonEmpty(sort)) {
    const views = matched.map(numericView);
    const stored = new Map(views.map((v, i) => [v, matched[i]]));
    matched = (mingoFind(views, {}).sort(sort).all() as Document[]).map((v) => stored.get(v) ?? v);
  }
  if (!o.skip && !o.limit && !projection) return matched;
  let c = mingoFind(matched, {}, projection);
  if (o.skip) c = c.skip(o.skip);
  if (o.limit) c = c.limit(o.limit);
  const out = c.all() as Document[];
  return projection ? out.map(idFirst) : out;
}

// ---------------------------------------------------------------- writes

interface WriteOutcome {
  writeErrors: Document[];
}

/** Runs statements in order with per-statement error capture, honouring `ordered`. */
function runStatements<T>(
  cmd: WriteStatement['command'],
  body: Document,
  ctx: CommandContext,
  statements: T[],
  fn: (st: T, index: number) => void,
): WriteOutcome {
  const ordered = body.ordered !== false;
  const whole = ctx.faults.takeWriteCommandError();
  const writeErrors: Document[] = [];
  for (let i = 0; i < statements.length; i++) {
    try {
      if (whole) throw injectedToServerError(whole);
      const injected = ctx.faults.statementError({ command: cmd, db: ctx.db, collection: body[cmd], index: i, statement: statements[i] as Document });
      if (injected) throw injectedToServerError(injected);
      fn(statements[i], i);
    } catch (err) {
      writeErrors.push(toServerError(err).toWriteError(i));
      if (ordered) break;
    }
  }
  return { writeErrors };
}

function withErrors(reply: Document, out: WriteOutcome): Document {
  if (out.writeErrors.length) reply.writeErrors = out.writeErrors;
  reply.ok = 1;
  return reply;
}

const insert: Handler = (body, ctx) => {
  const coll = ctx.store.ensure(ctx.db, collName(body, 'insert'));
  let n = 0;
  const docs = Array.isArray(body.documents) ? (body.documents as Document[]) : [];
  const out = runStatements('insert', body, ctx, docs, (doc) => {
    coll.insert(doc._id === undefined ? { _id: new ObjectId(), ...doc } : idFirst(doc));
    n++;
  });
  return withErrors({ n }, out);
};

function matchForUpdate(coll: Collection, q: Document, sort: Document | undefined, multi: boolean): Document[] {
  const matched = nonEmpty(sort) ? query(coll, { filter: q, sort }) : select(coll, q);
  return multi ? matched : matched.slice(0, 1);
}

const update: Handler = (body, ctx) => {
  const coll = ctx.store.ensure(ctx.db, collName(body, 'update'));
  let n = 0;
  let nModified = 0;
  const upserted: Document[] = [];
  const updates = Array.isArray(body.updates) ? (body.updates as Document[]) : [];
  const out = runStatements('update', body, ctx, updates, (st, index) => {
    const q: Document = st.q ?? {};
    const u = st.u;
    if (u === undefined || u === null || typeof u !== 'object') throw new ServerError(9, 'update statement has no u');
    if (st.multi && isReplacement(u)) throw new ServerError(9, 'multi update is not supported for replacement-style update');
    const targets = matchForUpdate(coll, q, st.sort, !!st.multi);
    if (targets.length === 0 && st.upsert) {
      const doc = upsertDocument(q, u, st.arrayFilters);
      coll.insert(doc);
      n++;
      upserted.push({ index, _id: doc._id });
      return;
    }
    for (const t of targets) {
      const { doc, modified } = applyUpdate(t, u, { filter: q, arrayFilters: st.arrayFilters });
      if (modified) {
        coll.replace(t, doc);
        nModified++;
      }
      n++;
    }
  });
  const reply: Document = { n, nModified };
  if (upserted.length) reply.upserted = upserted;
  return withErrors(reply, out);
};

const del: Handler = (body, ctx) => {
  const coll = ctx.store.get(ctx.db, collName(body, 'delete'));
  let n = 0;
  const deletes = Array.isArray(body.deletes) ? (body.deletes as Document[]) : [];
  const out = runStatements('delete', body, ctx, deletes, (st) => {
    const matched = select(coll, st.q ?? {});
    const targets = st.limit === 1 ? matched.slice(0, 1) : matched;
    for (const t of targets) coll!.remove(t);
    n += targets.length;
  });
  return withErrors({ n }, out);
};

const findAndModify: Handler = (body, ctx) => {
  const name = typeof body.findAndModify === 'string' ? body.findAndModify : collName(body, 'findandmodify');
  const coll = ctx.store.ensure(ctx.db, name);
  const injected = ctx.faults.takeWriteCommandError() ??
    ctx.faults.statementError({ command: 'findAndModify', db: ctx.db, collection: name, index: 0, statement: body });
  if (injected) throw injectedToServerError(injected);
  const q: Document = body.query ?? {};
  const project = (d: Document | null): Document | null =>
    d && nonEmpty(body.fields) ? idFirst(mingoFind([d], {}, body.fields).all()[0] as Document) : d;
  const [target] = matchForUpdate(coll, q, body.sort, false);
  if (body.remove) {
    if (target) coll.remove(target);
    return { lastErrorObject: { n: target ? 1 : 0 }, value: project(target ?? null), ok: 1 };
  }
  if (body.update === undefined) throw new ServerError(9, 'Either an update or remove=true must be specified');
  if (target) {
    const { doc, modified } = applyUpdate(target, body.update, { filter: q, arrayFilters: body.arrayFilters });
    if (modified) coll.replace(target, doc);
    return { lastErrorObject: { n: 1, updatedExisting: true }, value: project(body.new ? doc : target), ok: 1 };
  }
  if (body.upsert) {
    const doc = upsertDocument(q, body.update, body.arrayFilters);
    coll.insert(doc);
    return { lastErrorObject: { n: 1, updatedExisting: false, upserted: doc._id }, value: project(body.new ? doc : null), ok: 1 };
  }
  return { lastErrorObject: { n: 0, updatedExisting: false }, value: null, ok: 1 };
};

// ---------------------------------------------------------------- reads

const find: Handler = (body, ctx) => {
  const name = collName(body, 'find');
  const limit = typeof body.limit === 'number' ? body.limit : 0;
  const docs = query(ctx.store.get(ctx.db, name), {
    filter: body.filter,
    sort: body.sort,
    skip: typeof body.skip === 'number' ? body.skip : 0,
    limit: Math.abs(limit),
    projection: body.projection,
  });
  return ctx.cursors.first(`${ctx.db}.${name}`, docs, {
    batchSize: typeof body.batchSize === 'number' ? body.batchSize : undefined,
    singleBatch: !!body.singleBatch || limit < 0,
  });
};

const count: Handler = (body, ctx) => {
  let n = select(ctx.store.get(ctx.db, collName(body, 'count')), body.query).length;
  if (typeof body.skip === 'number') n = Math.max(0, n - body.skip);
  if (typeof body.limit === 'number' && body.limit !== 0) n = Math.min(n, Math.abs(body.limit));
  return { n, ok: 1 };
};

const distinct: Handler = (body, ctx) => {
  const key = body.key;
  if (typeof key !== 'string') throw new ServerError(2, "'key' must be a string");
  const seen = new Map<string, unknown>();
  for (const d of select(ctx.store.get(ctx.db, collName(body, 'distinct')), body.query)) {
    for (const v of pathValues(d, key)) if (v !== undefined && !seen.has(keyString(v))) seen.set(keyString(v), v);
  }
  return { values: [...seen.values()], ok: 1 };
};

const aggregate: Handler = (body, ctx) => {
  const pipeline = body.pipeline;
  if (!Array.isArray(pipeline)) throw new ServerError(14, "'pipeline' option must be specified as an array", {}, 'TypeMismatch');
  if (body.explain) throw new ServerError(2, 'explain is not supported by the test server');
  if (!body.cursor || typeof body.cursor !== 'object') {
    throw new ServerError(9, "The 'cursor' option is required, except for aggregate with the explain argument");
  }
  const name = typeof body.aggregate === 'string' ? body.aggregate : null;
  let stages = pipeline as Document[];
  // A leading $match runs as a plain query, so only matching documents are copied for the pipeline.
  let input = name ? select(ctx.store.get(ctx.db, name), stages[0]?.$match) : [];
  if (stages[0]?.$match) stages = stages.slice(1);
  const last = stages[stages.length - 1];
  const out = last?.$out;
  if (last?.$merge) throw new ServerError(2, '$merge is not supported by the test server');
  if (out !== undefined) stages = stages.slice(0, -1);
  const agg = new Aggregator(stages, {
    context: EXPRESSION_CONTEXT,
    processingMode: ProcessingMode.CLONE_INPUT,
    collectionResolver: (other: string) => ctx.store.get(ctx.db, other)?.all().map(numericView) ?? [],
  });
  const results = agg.run(input.map(numericView)) as Document[];
  input = [];
  if (out !== undefined) {
    const target = typeof out === 'string' ? { db: ctx.db, coll: out } : { db: String(out.db ?? ctx.db), coll: String(out.coll) };
    const existing = ctx.store.get(target.db, target.coll);
    const indexes = existing?.indexes.slice(1) ?? [];
    ctx.store.drop(target.db, target.coll);
    const coll = ctx.store.ensure(target.db, target.coll);
    for (const spec of indexes) coll.createIndex(spec);
    for (const d of results) coll.insert(d._id === undefined ? { _id: new ObjectId(), ...d } : d);
    return ctx.cursors.first(`${ctx.db}.${name ?? '$cmd.aggregate'}`, []);
  }
  return ctx.cursors.first(`${ctx.db}.${name ?? '$cmd.aggregate'}`, results, {
    batchSize: typeof body.cursor.batchSize === 'number' ? body.cursor.batchSize : undefined,
  });
};

const getMore: Handler = (body, ctx) => ctx.cursors.getMore(body, ctx.db);
const killCursors: Handler = (body, ctx) => ctx.cursors.kill(body);

export const CRUD_HANDLERS: Record<string, Handler> = {
  insert,
  update,
  delete: del,
  findAndModify,
  findandmodify: findAndModify,
  find,
  getMore,
  killCursors,
  count,
  distinct,
  aggregate,
};
