// Server-side errors in the shape mongod sends them: {ok: 0, errmsg, code, codeName}.
import type { Document } from 'bson';

/** Codes we produce, with the codeName mongod uses for each. */
export const CODE_NAMES: Record<number, string> = {
  1: 'InternalError',
  2: 'BadValue',
  9: 'FailedToParse',
  11: 'UserNotFound',
  13: 'Unauthorized',
  18: 'AuthenticationFailed',
  20: 'IllegalOperation',
  26: 'NamespaceNotFound',
  27: 'IndexNotFound',
  40: 'ConflictingUpdateOperators',
  43: 'CursorNotFound',
  48: 'NamespaceExists',
  50: 'MaxTimeMSExpired',
  59: 'CommandNotFound',
  64: 'WriteConcernFailed',
  66: 'ImmutableField',
  67: 'CannotCreateIndex',
  72: 'InvalidOptions',
  73: 'InvalidNamespace',
  85: 'IndexOptionsConflict',
  86: 'IndexKeySpecsConflict',
  91: 'ShutdownInProgress',
  121: 'DocumentValidationFailure',
  189: 'PrimarySteppedDown',
  225: 'TransactionTooOld',
  462: 'IngressRequestRateLimitExceeded',
  11000: 'DuplicateKey',
  11600: 'InterruptedAtShutdown',
};

/** An error a command handler throws to answer `{ok: 0, ...}` (or a write error). */
export class ServerError extends Error {
  readonly code: number;
  readonly codeName: string;
  /** Extra fields copied into the reply / write error (keyPattern, keyValue, errInfo...). */
  readonly extra: Document;

  constructor(code: number, errmsg: string, extra: Document = {}, codeName?: string) {
    super(errmsg);
    this.code = code;
    this.codeName = codeName ?? CODE_NAMES[code] ?? 'UnknownError';
    this.extra = extra;
  }

  /** Top-level command failure document. */
  toReply(): Document {
    return { ok: 0, errmsg: this.message, code: this.code, codeName: this.codeName, ...this.extra };
  }

  /** Entry of a write command's `writeErrors` array. */
  toWriteError(index: number): Document {
    return { index, code: this.code, errmsg: this.message, ...this.extra };
  }
}

/** The fields a test gives to describe an injected error. */
export interface InjectedError {
  code: number;
  errmsg?: string;
  codeName?: string;
  /** For write errors, e.g. the validation details of code 121. */
  errInfo?: Document;
  /** Top-level errors only: labels such as 'RetryableWriteError'. */
  errorLabels?: string[];
}

export function injectedToServerError(e: InjectedError): ServerError {
  const extra: Document = {};
  if (e.errInfo) extra.errInfo = e.errInfo;
  if (e.errorLabels) extra.errorLabels = e.errorLabels;
  const errmsg = e.errmsg ?? `injected fault: ${CODE_NAMES[e.code] ?? 'error'} (${e.code})`;
  return new ServerError(e.code, errmsg, extra, e.codeName);
}

/** Turn anything a handler threw into a ServerError (mingo errors become BadValue). */
export function toServerError(err: unknown): ServerError {
  if (err instanceof ServerError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  // mingo's own immutable-_id check, in mongod's terms
  if (/immutable field '_id'/.test(msg)) return new ServerError(66, msg);
  return new ServerError(2, msg);
}
