// Replica-set mode: what the driver sees of an Atlas cluster's primary, and the retryable-write
// bookkeeping that comes with it. Atlas is always a replica set, so the driver sends every
// single-document write (insert, updateOne/replaceOne, deleteOne, findAndModify) with the
// session's `lsid` and a `txnNumber`, and after a network error it sends the same command again
// with the same `txnNumber` once. mongod then answers with the outcome of the first execution
// instead of running it again (the lost ack is absorbed). This module is that memory.
//
// Simplifications: one primary and no secondaries; a command's outcome is remembered as a whole
// (mongod remembers each statement by `stmtId`, so a retried unordered batch whose first try
// failed part way re-runs only the failed statements; here a reply with write errors is not
// remembered and the retry runs again); sessions never expire.
import { ObjectId, type Document } from 'bson';
import { ServerError } from './errors.ts';
import { keyString } from './keys.ts';

/** Write-concern error codes after which mongod labels a retryable write `RetryableWriteError`. */
export const RETRYABLE_CODES = new Set([6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436]);

/** The hello fields of a writable primary of replica set `setName`, reached as `me` (host:port). */
export function primaryHello(setName: string, me: string): Document {
  return {
    setName,
    setVersion: 1,
    hosts: [me],
    primary: me,
    me,
    secondary: false,
    electionId: ELECTION_ID,
  };
}

const ELECTION_ID = new ObjectId('7fffffff0000000000000001');

interface Executed {
  txnNumber: number;
  reply: Document;
}

export class RetryableWrites {
  private readonly sessions = new Map<string, Executed>();
  /** Commands answered from memory instead of run again. */
  replayed = 0;

  /**
   * For a write carrying `lsid` + `txnNumber`: the remembered reply when this transaction number
   * already ran in the session, null when it is new. An older number than the session's latest
   * is refused, as mongod does (225 TransactionTooOld).
   */
  lookup(body: Document): Document | null {
    const key = sessionKey(body);
    if (key === null) return null;
    const txn = txnNumberOf(body);
    const seen = this.sessions.get(key);
    if (!seen || txn > seen.txnNumber) return null;
    if (txn < seen.txnNumber) {
      throw new ServerError(225, `Retryable write with txnNumber ${txn} is prohibited on session because a newer retryable write with txnNumber ${seen.txnNumber} has already started on this session.`);
    }
    this.replayed++;
    return seen.reply;
  }

  /** Remembers a successful outcome (ok: 1, no write errors) of a write carrying `lsid` + `txnNumber`. */
  record(body: Document, reply: Document): void {
    const key = sessionKey(body);
    if (key === null || reply.ok !== 1 || reply.writeErrors) return;
    this.sessions.set(key, { txnNumber: txnNumberOf(body), reply });
  }

  clear(): void {
    this.sessions.clear();
  }
}

function sessionKey(body: Document): string | null {
  if (body.txnNumber === undefined || body.txnNumber === null || !body.lsid) return null;
  return keyString(body.lsid);
}

function txnNumberOf(body: Document): number {
  const t = body.txnNumber;
  return typeof t === 'number' ? t : Number(String(t));
}
