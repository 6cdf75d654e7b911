// Value identity as mongod sees it: canonical keys for _id and unique indexes,
// the values an index sees along a dotted path, and query-operator detection.
import type { Document } from 'bson';

/**
 * A canonical string for a value, used as the key of the _id map and of unique
 * indexes. Numbers of any BSON numeric type that are equal give the same key
 * (1, 1.0 and Long(1) collide, as in mongod); field order in subdocuments matters.
 */
export function keyString(v: unknown): string {
  if (v === undefined || v === null) return 'null';
  switch (typeof v) {
    case 'number':
      return Number.isInteger(v) ? `n:${BigInt(v)}` : `n:${v}`;
    case 'bigint':
      return `n:${v}`;
    case 'string':
      return `s:${JSON.stringify(v)}`;
    case 'boolean':
      return `b:${v}`;
  }
  if (v instanceof Date) return `d:${v.getTime()}`;
  if (Array.isArray(v)) return `[${v.map(keyString).join(',')}]`;
  if (v instanceof RegExp) return `r:${v.source}/${v.flags}`;
  const o = v as { _bsontype?: string; toString(enc?: string): string; toHexString?: () => string };
  switch (o._bsontype) {
    case undefined:
      return `{${Object.entries(v as Document)
        .map(([k, x]) => `${JSON.stringify(k)}:${keyString(x)}`)
        .join(',')}}`;
    case 'ObjectId':
      return `o:${o.toHexString!()}`;
    case 'Long':
    case 'Int32':
    case 'Double':
      return keyString(Number(o.toString()) === Number(o.toString()) ? Number(o.toString()) : o.toString());
    case 'Decimal128':
      return `n:${o.toString()}`;
    case 'Binary':
      return `x:${(v as { sub_type: number }).sub_type}:${o.toString('base64')}`;
    default:
      return `${o._bsontype}:${o.toString()}`;
  }
}

/** The values an index sees at `path`: arrays expand to their elements (multikey). */
export function pathValues(doc: unknown, path: string): unknown[] {
  const parts = path.split('.');
  const out: unknown[] = [];
  const walk = (v: unknown, i: number): void => {
    if (i === parts.length) {
      if (Array.isArray(v)) {
        if (v.length === 0) out.push(undefined);
        else out.push(...v);
      } else out.push(v);
      return;
    }
    if (Array.isArray(v)) {
      if (/^\d+$/.test(parts[i])) return walk(v[Number(parts[i])], i + 1);
      if (v.length === 0) out.push(undefined);
      for (const el of v) walk(el, i);
      return;
    }
    if (v !== null && typeof v === 'object' && !(v instanceof Date) && !('_bsontype' in v)) {
      return walk((v as Document)[parts[i]], i + 1);
    }
    out.push(undefined);
  };
  walk(doc, 0);
  return out;
}

export function isOperatorObject(v: unknown): v is Document {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || (v as Document).constructor !== Object) return false;
  const first = Object.keys(v)[0];
  return first !== undefined && first.startsWith('$');
}
