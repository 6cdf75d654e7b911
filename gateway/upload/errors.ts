import { MongoBulkWriteError, MongoError, MongoNetworkError, MongoServerSelectionError, MongoWriteConcernError } from 'mongodb';

/**
 * What the uploader does with an error:
 * - `transient`: Atlas or the path to it is down or busy. The pass stops, every window stays
 *   queued, the next pass comes after an exponential backoff with full jitter.
 * - `permanent`: retrying the same request now would fail the same way (bad credentials, a
 *   document Atlas refuses). Logged with its reason, counted in
 *   `iotgw_upload_errors_total{kind="permanent"}`, nothing is deleted locally. With `scope:
 *   'global'` (authentication, authorization) no write can succeed, so the pass stops; with
 *   `scope: 'part'` only that window waits (its own backoff) and the other windows go on.
 */
export interface UploadFailure {
  kind: 'transient' | 'permanent';
  scope: 'global' | 'part';
  /** Server error code when there is one. */
  code?: number;
  codeName?: string;
  /** One line for an operator: no stack, no credentials. */
  reason: string;
}

/**
 * Server codes that clear up on their own (elections, shutdowns, timeouts, write conflicts,
 * overload). Not 11000: since 4.2 the server retries an upsert's duplicate-key race on `_id`
 * itself, so a duplicate key that reaches us is data (a unique index, legacy duplicates) and
 * retrying it would fail forever.
 */
const TRANSIENT_CODES = new Set([
  6, 7, 50, 89, 91, 112, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436, 64 /* WriteConcernFailed */, 100 /* UnsatisfiableWriteConcern */, 16500 /* Atlas rate limit */,
  462 /* IngressRequestRateLimitExceeded, labelled SystemOverloadedError */,
]);
/** Codes after which no write can succeed until an operator acts. */
const GLOBAL_CODES = new Set([18 /* AuthenticationFailed */, 13 /* Unauthorized */, 8000 /* AtlasError: e.g. over quota, user lacks role */]);

const NAMES: Record<number, string> = {
  18: 'AuthenticationFailed', 13: 'Unauthorized', 121: 'DocumentValidationFailure', 10334: 'BSONObjectTooLarge', 2: 'BadValue', 8000: 'AtlasError',
  11000: 'DuplicateKey', 462: 'IngressRequestRateLimitExceeded', 64: 'WriteConcernFailed', 85: 'IndexOptionsConflict', 86: 'IndexKeySpecsConflict',
};

/**
 * The write-concern error of a write Atlas applied but could not confirm on a majority of its
 * nodes, or null. Driver 7.9 raises it as a MongoWriteConcernError for single writes and, for a
 * bulk write, as a MongoBulkWriteError that carries it only in `err.result` (its `err` and
 * `writeConcernError` properties are unset, `writeErrors` may be empty).
 */
export function writeConcernErrorOf(err: unknown): { code?: number; codeName?: string; errmsg?: string } | null {
  if (err instanceof MongoWriteConcernError) {
    const wce = (err.result as { writeConcernError?: { code?: number; codeName?: string; errmsg?: string } } | undefined)?.writeConcernError;
    return wce ?? { code: typeof err.code === 'number' ? err.code : undefined, errmsg: err.message };
  }
  if (err instanceof MongoBulkWriteError) {
    const wce = err.result?.getWriteConcernError?.();
    if (wce) return { code: wce.code, codeName: wce.code !== undefined ? NAMES[wce.code] : undefined, errmsg: wce.errmsg };
  }
  return null;
}

export function classify(err: unknown): UploadFailure {
  const wce = writeConcernErrorOf(err);
  if (wce) {
    // Applied but not confirmed: whatever the code, the same idempotent request is retried.
    const codeName = wce.codeName ?? (wce.code !== undefined ? NAMES[wce.code] : undefined);
    const reason = `written but not acknowledged by a majority of Atlas's nodes (write concern error ${codeName ?? 'code'} (${wce.code}): ${(wce.errmsg ?? '').split('\n')[0].slice(0, 200)})`;
    return { kind: 'transient', scope: 'global', code: wce.code, codeName, reason };
  }
  const code = typeof (err as { code?: unknown })?.code === 'number' ? ((err as { code: number }).code) : undefined;
  const codeName = (err as { codeName?: string })?.codeName ?? (code !== undefined ? NAMES[code] : undefined);
  const message = oneLine(err);
  const reason = code !== undefined ? `${codeName ?? 'code'} (${code}): ${message}` : message;
  if (code !== undefined && GLOBAL_CODES.has(code)) return { kind: 'permanent', scope: 'global', code, codeName, reason };
  if (err instanceof MongoNetworkError || err instanceof MongoServerSelectionError) return { kind: 'transient', scope: 'global', code, codeName, reason };
  if (err instanceof MongoError) {
    if (['RetryableWriteError', 'TransientTransactionError', 'SystemOverloadedError', 'ResetPool', 'NetworkError'].some((l) => err.hasErrorLabel?.(l))) {
      return { kind: 'transient', scope: 'global', code, codeName, reason };
    }
    if (code !== undefined && TRANSIENT_CODES.has(code)) return { kind: 'transient', scope: 'global', code, codeName, reason };
    // No server code: a driver-side condition (closed connection — a bulk write whose connection
    // dropped arrives as a MongoBulkWriteError without code —, timeouts, not connected): the
    // link, not the data.
    if (code === undefined) return { kind: 'transient', scope: 'global', code, codeName, reason };
    return { kind: 'permanent', scope: 'part', code, codeName, reason };
  }
  // DNS, sockets and timeouts that surface as plain Node errors.
  const sys = (err as { code?: unknown })?.code;
  if (typeof sys === 'string' && /^(E[A-Z]+|ERR_SOCKET.*)$/.test(sys)) return { kind: 'transient', scope: 'global', reason };
  return { kind: 'permanent', scope: 'part', code, codeName, reason };
}

/** Classifies one entry of a bulk write's `writeErrors` (always about that one document). */
export function classifyWriteError(e: { code?: number; errmsg?: string; message?: string }): UploadFailure {
  const code = e.code;
  const codeName = code !== undefined ? NAMES[code] : undefined;
  const reason = `${codeName ?? 'code'} (${code}): ${(e.errmsg ?? e.message ?? '').split('\n')[0].slice(0, 300)}`;
  if (code !== undefined && GLOBAL_CODES.has(code)) return { kind: 'permanent', scope: 'global', code, codeName, reason };
  if (code !== undefined && TRANSIENT_CODES.has(code)) return { kind: 'transient', scope: 'global', code, codeName, reason };
  return { kind: 'permanent', scope: 'part', code, codeName, reason };
}

/** The first line of an error's message, with any credentials in a URI masked. */
export function oneLine(err: unknown): string {
  const raw = err instanceof Error ? `${err.name === 'Error' ? '' : `${err.name}: `}${err.message}` : String(err);
  return raw.split('\n')[0].replace(/(mongodb(?:\+srv)?:\/\/)[^@/\s]+@/g, '$1***@').slice(0, 300);
}

/** The per-document errors of a bulk write whose other documents Atlas took; null when the request as a whole failed. */
export function writeErrorsOf(err: unknown): { index: number; failure: UploadFailure }[] | null {
  if (!(err instanceof MongoBulkWriteError)) return null;
  if (writeConcernErrorOf(err)) return null; // applied but not majority-acknowledged: retry the request
  const list = Array.isArray(err.writeErrors) ? err.writeErrors : Object.values(err.writeErrors ?? {});
  if (list.length === 0) return null;
  return list.map((we) => ({ index: we.index, failure: classifyWriteError({ code: we.code, errmsg: we.errmsg }) }));
}

