// Aggregation-expression operators where mingo differs from mongod in a way the uploader meets.
//
// `$max` / `$min` with several arguments ignore null and missing values in mongod (`{$max:
// ['$last_updated', now]}` on a new document is `now`). mingo evaluates them as accumulators
// over the argument list, and a missing value (undefined) sorts after everything in a JS sort,
// so the answer was null. These run first: mingo has no expression-level $max/$min of its own
// (it falls back to the accumulators), so adding them takes nothing else away.
import { Context, evalExpr } from 'mingo/core';
import { compare } from 'mingo/util';

type Options = Parameters<typeof evalExpr>[2];

function extreme(sign: 1 | -1) {
  return (obj: object, expr: unknown, options: Options): unknown => {
    let args = evalExpr(obj, expr, options) as unknown;
    // One argument that resolves to an array: mongod looks inside it.
    if (!Array.isArray(expr) && Array.isArray(args)) args = args as unknown[];
    else if (!Array.isArray(args)) args = [args];
    let best: unknown = null;
    for (const v of args as unknown[]) {
      if (v === null || v === undefined) continue;
      if (best === null || sign * compare(v, best) > 0) best = v;
    }
    return best;
  };
}

/** Pass as `context` to mingo's Aggregator and updateOne. */
export const EXPRESSION_CONTEXT = Context.init({ expression: { $max: extreme(1), $min: extreme(-1) } as never });
