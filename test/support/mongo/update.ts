// Update semantics on one document: operator updates (via mingo), replacement
// documents, aggregation-pipeline updates, $setOnInsert, and the document an
// upsert starts from.
import { ObjectId, type Document } from 'bson';
import { updateOne } from 'mingo';
import { cloneDeep, isEqual } from 'mingo/util';
import { ServerError } from './errors.ts';
import { isOperatorObject, keyString } from './keys.ts';
import { EXPRESSION_CONTEXT } from './expressions.ts';

export type UpdateSpec = Document | Document[];

export function isPipelineUpdate(u: UpdateSpec): u is Document[] {
  return Array.isArray(u);
}

export function isReplacement(u: UpdateSpec): boolean {
  if (Array.isArray(u)) return false;
  const keys = Object.keys(u);
  return keys.length === 0 || !keys[0].startsWith('$');
}

/** Put _id first, as mongod does. */
export function idFirst(doc: Document): Document {
  if (Object.keys(doc)[0] === '_id' || doc._id === undefined) return doc;
  const { _id, ...rest } = doc;
  return { _id, ...rest };
}

/**
 * Apply `u` to `prev` and return the new document (prev is not touched).
 * `filter` is passed on so the positional `$` operator works; `upsertInsert`
 * turns $setOnInsert into $set (it is dropped otherwise).
 */
export function applyUpdate(
  prev: Document,
  u: UpdateSpec,
  opts: { filter?: Document; arrayFilters?: Document[]; upsertInsert?: boolean } = {},
): { doc: Document; modified: boolean } {
  let next: Document;
  if (isReplacement(u)) {
    const repl = u as Document;
    if (repl._id !== undefined && prev._id !== undefined && keyString(repl._id) !== keyString(prev._id)) {
      throw new ServerError(66, `After applying the update, the (immutable) field '_id' was found to have been altered to _id: ${String(repl._id)}`);
    }
    for (const k of Object.keys(repl)) {
      if (k.startsWith('$')) throw new ServerError(2, `The dollar ($) prefixed field '${k}' in '${k}' is not allowed in a replacement document`);
    }
    // The replacement was deserialized for this request only: no copy needed.
    next = idFirst({ _id: prev._id, ...repl });
    if (next._id === undefined) delete next._id;
  } else {
    // mingo's cloneDeep copies plain objects, arrays and Dates; BSON value
    // objects (ObjectId, Binary, Long...) are shared, which is safe as nothing mutates them.
    const work = cloneDeep(prev) as Document;
    const docs = [work];
    let modifier: UpdateSpec = u;
    if (!isPipelineUpdate(u)) {
      checkConflicts(u as Document);
      const { $setOnInsert, ...rest } = u as Document;
      let set: Document | undefined = rest.$set ? { ...rest.$set } : undefined;
      if (opts.upsertInsert && $setOnInsert) set = { ...(set ?? {}), ...$setOnInsert };
      // mingo refuses any operator on _id; mongod allows $set of the same value
      // (and of a new value when an upsert inserts), so _id is handled here.
      if (set && '_id' in set) {
        const newId = set._id;
        delete set._id;
        if (prev._id !== undefined && keyString(newId) !== keyString(prev._id)) {
          throw new ServerError(66, `Performing an update on the path '_id' would modify the immutable field '_id'`);
        }
        docs[0] = { _id: newId, ...work };
      }
      const mod: Document = { ...rest };
      if (set) mod.$set = set;
      for (const [op, fields] of Object.entries(mod)) {
        if (!op.startsWith('$')) throw new ServerError(9, `Unknown modifier: ${op}. Expected a valid update modifier or pipeline-style update specified as an array`);
        if (fields === null || typeof fields !== 'object') throw new ServerError(9, `Modifiers operate on fields but we found type ${typeof fields} instead.`);
        if (Object.keys(fields).some((f) => f === '_id' || f.startsWith('_id.'))) {
          throw new ServerError(66, `Performing an update on the path '_id' would modify the immutable field '_id'`);
        }
        if (Object.keys(fields).length === 0) delete mod[op];
      }
      if (Object.keys(mod).length === 0) {
        const doc = idFirst(docs[0]);
        return { doc, modified: !isEqual(prev, doc) };
      }
      modifier = mod;
    }
    // The document was matched already (on its numeric view); mingo needs the filter only for the
    // positional `$`, and would compare a stored Long against a number in it.
    const positional = !isPipelineUpdate(modifier) && Object.values(modifier).some((f) => f && typeof f === 'object' && Object.keys(f).some((k) => k === '$' || k.includes('.$.') || k.endsWith('.$')));
    const res = updateOne(docs, opts.upsertInsert || !positional ? {} : (opts.filter ?? {}), modifier as Document, {
      arrayFilters: opts.arrayFilters,
      cloneMode: 'deep',
    }, { context: EXPRESSION_CONTEXT });
    next = idFirst(docs[0]);
    if (prev._id !== undefined && keyString(next._id) !== keyString(prev._id)) {
      throw new ServerError(66, `Performing an update on the path '_id' would modify the immutable field '_id'`);
    }
    // mingo skips no-op assignments, so its count says whether anything changed.
    return { doc: next, modified: res.modifiedCount > 0 || docs[0] !== work };
  }
  return { doc: next, modified: !isEqual(prev, next) };
}

/**
 * mongod refuses an update whose operators touch one path twice, or a path and a path inside it
 * (`$set: {a: 1}` with `$setOnInsert: {a: 2}`, or `a` with `a.b`), whether or not the upsert
 * inserts: 40 ConflictingUpdateOperators. mingo would apply both in turn.
 */
function checkConflicts(u: Document): void {
  const paths: string[] = [];
  for (const [op, fields] of Object.entries(u)) {
    if (!op.startsWith('$') || fields === null || typeof fields !== 'object') continue;
    for (const f of Object.keys(fields)) {
      paths.push(f);
      // $rename writes its target too
      if (op === '$rename' && typeof (fields as Document)[f] === 'string') paths.push((fields as Document)[f]);
    }
  }
  const plain = paths.map((p) => p.replace(/\.\$(\[[^\]]*\])?/g, ''));
  for (let i = 0; i < plain.length; i++) {
    for (let j = 0; j < plain.length; j++) {
      const [a, b] = [plain[i], plain[j]];
      if (i !== j && (a === b || b.startsWith(`${a}.`))) throw new ServerError(40, `Updating the path '${b}' would create a conflict at '${a}'`);
    }
  }
}

/** Equality fields of a filter ({a: 1}, {a: {$eq: 1}}, inside $and), which seed an upsert's new document. */
function equalityFields(filter: Document, out: Document): void {
  for (const [k, v] of Object.entries(filter)) {
    if (k === '$and' && Array.isArray(v)) {
      for (const sub of v) equalityFields(sub as Document, out);
    } else if (k.startsWith('$')) {
      continue;
    } else if (isOperatorObject(v)) {
      if ('$eq' in v) out[k] = v.$eq;
    } else if (!(v instanceof RegExp)) {
      out[k] = v;
    }
  }
}

/** The document an upsert inserts when nothing matched. */
export function upsertDocument(filter: Document, u: UpdateSpec, arrayFilters?: Document[]): Document {
  let base: Document = {};
  if (!isReplacement(u)) {
    const eq: Document = {};
    equalityFields(filter ?? {}, eq);
    if (eq._id !== undefined) base = { _id: eq._id };
    delete eq._id;
    if (Object.keys(eq).length) {
      const docs = [base];
      updateOne(docs, {}, { $set: eq }, { cloneMode: 'deep' });
      base = docs[0];
    }
  } else if (filter?._id !== undefined && !isOperatorObject(filter._id)) {
    base = { _id: filter._id };
  }
  let { doc } = applyUpdate(base, u, { arrayFilters, upsertInsert: true });
  if (doc._id === undefined) {
    const { _id, ...rest } = doc;
    doc = { _id: new ObjectId(), ...rest };
  }
  return idFirst(doc);
}
