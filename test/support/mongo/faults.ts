// Fault injection. Every field and method can be changed while the server runs,
// so a test can flip a fault in the middle of an operation.
import type { Document } from 'bson';
import type { InjectedError } from './errors.ts';

/** Commands that change data; the write faults count these. */
export const WRITE_COMMANDS = new Set(['insert', 'update', 'delete', 'findAndModify']);

/** Handshake/monitoring commands, never failed by the default command filter. */
const HANDSHAKE = new Set(['hello', 'isMaster', 'ismaster', 'endSessions']);

/** One write statement as a predicate sees it. */
export interface WriteStatement {
  command: 'insert' | 'update' | 'delete' | 'findAndModify';
  db: string;
  collection: string;
  /** Index of the statement in its command. */
  index: number;
  /** insert: the document; update: {q, u, upsert, multi}; delete: {q, limit}; findAndModify: the body. */
  statement: Document;
}

export type WritePredicate = (w: WriteStatement) => InjectedError | null | undefined | false;
export type CommandPredicate = (name: string, body: Document, db: string) => InjectedError | null | undefined | false;

/** A write-concern error as mongod reports it beside a write it applied (`{ok: 1, n, writeConcernError}`). */
export interface InjectedWriteConcernError {
  code: number;
  codeName?: string;
  errmsg?: string;
  errInfo?: Document;
}

export class Faults {
  /** Accept and immediately close new connections (the driver sees a network error). */
  refuseConnections = false;
  /** Wait this long before handling each command (every reply is delayed by it). */
  delayMs = 0;
  /** Which commands `delayMs` applies to (given the command's name and body); default all. */
  delayFilter: ((name: string, body: Document) => boolean) | null = null;

  private writeErrorsLeft = 0;
  private writeError: InjectedError = { code: 121 };
  private writePredicate: WritePredicate | null = null;
  private commandErrorsLeft = 0;
  private commandError: InjectedError = { code: 13 };
  private commandErrorNames: Set<string> | null = null;
  private commandPredicate: CommandPredicate | null = null;
  private dropAfterWritesLeft = 0;
  private dropBeforeLeft = 0;
  private dropBeforeNames: Set<string> | null = null;
  private writeConcernErrorsLeft = 0;
  private writeConcernError: InjectedWriteConcernError = WRITE_CONCERN_TIMEOUT;
  private readonly holds = new Map<string, { released: Promise<void>; release: () => void }>();

  /**
   * The next `n` write commands fail with `err` as a write error on their first
   * statement (ordered) or on every statement (unordered); nothing is applied.
   * Default error: 121 DocumentValidationFailure.
   */
  failNextWrites(n: number, err: InjectedError = { code: 121, errmsg: 'Document failed validation' }): this {
    this.writeErrorsLeft = n;
    this.writeError = err;
    return this;
  }

  /** Fail each write statement for which `pred` returns an error (persistent until cleared with null). */
  failWritesWhere(pred: WritePredicate | null): this {
    this.writePredicate = pred;
    return this;
  }

  /**
   * The next `n` commands (by default any except the handshake ones; else
   * only those named) fail with a top-level `{ok: 0}` error and do nothing,
   * e.g. `{code: 13}` Unauthorized or `{code: 18}` AuthenticationFailed.
   */
  failNextCommands(n: number, err: InjectedError, commands?: string[]): this {
    this.commandErrorsLeft = n;
    this.commandError = err;
    this.commandErrorNames = commands ? new Set(commands) : null;
    return this;
  }

  /** Fail each command for which `pred` returns an error (persistent until cleared with null). */
  failCommandsWhere(pred: CommandPredicate | null): this {
    this.commandPredicate = pred;
    return this;
  }

  /** Apply the next `n` write commands, then destroy the socket without replying (the lost ack). */
  dropAfterWrite(n = 1): this {
    this.dropAfterWritesLeft = n;
    return this;
  }

  /** Destroy the socket instead of running the next `n` commands (default: write commands). Nothing is applied. */
  dropBeforeCommand(n = 1, commands: string[] = [...WRITE_COMMANDS]): this {
    this.dropBeforeLeft = n;
    this.dropBeforeNames = new Set(commands);
    return this;
  }

  /**
   * The next `n` write commands are applied, and answered `{ok: 1, ..., writeConcernError}`: what
   * mongod says when a write was done on the primary but the write concern (w: "majority") was not
   * satisfied in time. Default: 64 WriteConcernFailed with `errInfo.wtimeout`.
   */
  writeConcernErrors(n = 1, err: InjectedWriteConcernError = WRITE_CONCERN_TIMEOUT): this {
    this.writeConcernErrorsLeft = n;
    this.writeConcernError = err;
    return this;
  }

  /**
   * Commands with these names wait, unanswered and not run, until `release()` (or `reset()`): a
   * `createIndexes` held here is an index build on a large collection that outlasts everything
   * else. Commands already waiting when this is called again keep waiting.
   */
  hold(names: string[]): () => void {
    for (const name of names) {
      if (this.holds.has(name)) continue;
      let release!: () => void;
      const released = new Promise<void>((r) => { release = r; });
      this.holds.set(name, { released, release: () => { this.holds.delete(name); release(); } });
    }
    return () => { for (const name of names) this.holds.get(name)?.release(); };
  }

  /** Clear every fault. */
  reset(): this {
    this.refuseConnections = false;
    this.delayMs = 0;
    this.delayFilter = null;
    this.writeErrorsLeft = 0;
    this.writePredicate = null;
    this.commandErrorsLeft = 0;
    this.commandPredicate = null;
    this.dropAfterWritesLeft = 0;
    this.dropBeforeLeft = 0;
    this.writeConcernErrorsLeft = 0;
    for (const h of [...this.holds.values()]) h.release();
    return this;
  }

  // ---- used by the server ----

  /** @internal */
  delayFor(name: string, body: Document): number {
    if (this.delayMs <= 0) return 0;
    return !this.delayFilter || this.delayFilter(name, body) ? this.delayMs : 0;
  }

  /** @internal resolves when `name` is not (or no longer) held. */
  held(name: string): Promise<void> | null {
    return this.holds.get(name)?.released ?? null;
  }

  /** @internal the write-concern error to add to the reply of a write command just applied, if any. */
  takeWriteConcernError(name: string): InjectedWriteConcernError | null {
    if (this.writeConcernErrorsLeft <= 0 || !WRITE_COMMANDS.has(name)) return null;
    this.writeConcernErrorsLeft--;
    return this.writeConcernError;
  }

  /** @internal a top-level error to answer instead of running the command, if any. */
  takeCommandError(name: string, body: Document, db: string): InjectedError | null {
    const fromPred = this.commandPredicate?.(name, body, db);
    if (fromPred) return fromPred;
    if (this.commandErrorsLeft <= 0) return null;
    const applies = this.commandErrorNames ? this.commandErrorNames.has(name) : !HANDSHAKE.has(name);
    if (!applies) return null;
    this.commandErrorsLeft--;
    return this.commandError;
  }

  /** @internal whether the whole next write command fails (consumes one count). */
  takeWriteCommandError(): InjectedError | null {
    if (this.writeErrorsLeft <= 0) return null;
    this.writeErrorsLeft--;
    return this.writeError;
  }

  /** @internal */
  statementError(w: WriteStatement): InjectedError | null {
    return this.writePredicate?.(w) || null;
  }

  /** @internal */
  takeDropBefore(name: string): boolean {
    if (this.dropBeforeLeft <= 0 || !this.dropBeforeNames?.has(name)) return false;
    this.dropBeforeLeft--;
    return true;
  }

  /** @internal */
  takeDropAfter(name: string): boolean {
    if (this.dropAfterWritesLeft <= 0 || !WRITE_COMMANDS.has(name)) return false;
    this.dropAfterWritesLeft--;
    return true;
  }

  /** Remaining counts, for assertions. */
  pending(): { writeErrors: number; commandErrors: number; dropAfterWrite: number; dropBeforeCommand: number; writeConcernErrors: number; held: string[] } {
    return {
      writeErrors: this.writeErrorsLeft,
      commandErrors: this.commandErrorsLeft,
      dropAfterWrite: this.dropAfterWritesLeft,
      dropBeforeCommand: this.dropBeforeLeft,
      writeConcernErrors: this.writeConcernErrorsLeft,
      held: [...this.holds.keys()],
    };
  }
}

const WRITE_CONCERN_TIMEOUT: InjectedWriteConcernError = {
  code: 64,
  codeName: 'WriteConcernFailed',
  errmsg: 'waiting for replication timed out',
  errInfo: { wtimeout: true, writeConcern: { w: 'majority', wtimeout: 0, provenance: 'clientSupplied' } },
};
