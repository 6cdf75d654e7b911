// MongoDB wire framing: splits a TCP byte stream into messages, parses the two
// request opcodes the driver uses (legacy OP_QUERY for the first handshake,
// OP_MSG for everything else) and encodes the matching replies.
//
// Reference: https://www.mongodb.com/docs/manual/reference/mongodb-wire-protocol/
import { deserialize, serialize, type Document } from 'bson';

export const OP_REPLY = 1;
export const OP_QUERY = 2004;
export const OP_COMPRESSED = 2012;
export const OP_MSG = 2013;

/** OP_MSG flagBits. */
export const MSG_CHECKSUM_PRESENT = 1 << 0;
export const MSG_MORE_TO_COME = 1 << 1;
export const MSG_EXHAUST_ALLOWED = 1 << 16;

/** Largest message we accept; the server advertises maxMessageSizeBytes 48,000,000. */
export const MAX_MESSAGE_BYTES = 48_000_000 + 16 * 1024;

export interface WireHeader {
  length: number;
  requestId: number;
  responseTo: number;
  opCode: number;
}

/** A request after parsing: the database, the command body, and how to answer it. */
export interface WireRequest {
  header: WireHeader;
  opCode: typeof OP_QUERY | typeof OP_MSG;
  db: string;
  /** The command document; kind-1 document sequences are merged in as array fields. */
  body: Document;
  /** OP_MSG moreToCome: the client wants no reply (unacknowledged write, w:0). */
  moreToCome: boolean;
}

export class WireProtocolError extends Error {}

/**
 * Deserialize options for everything the client sends. Int64 values stay `Long` (promoteLongs
 * false), so a stored int64 goes back as an int64 (int64.ts gives handlers and mingo numbers
 * where they compare); int32 and double become JS numbers. We do not use `useBigInt64`: mingo
 * cannot compile a query that contains a bigint (it JSON.stringifies conditions).
 */
const DESERIALIZE = { promoteLongs: false, promoteValues: true } as const;

/** Accumulates socket chunks and hands out complete messages. */
export class MessageFramer {
  private chunks: Buffer[] = [];
  private buffered = 0;

  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: Buffer[] = [];
    for (;;) {
      if (this.buffered < 4) break;
      const head = this.peek(4);
      const length = head.readInt32LE(0);
      if (length < 16 || length > MAX_MESSAGE_BYTES) {
        throw new WireProtocolError(`invalid message length ${length}`);
      }
      if (this.buffered < length) break;
      out.push(this.take(length));
    }
    return out;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0].length >= n) return this.chunks[0];
    this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0];
  }

  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    const msg = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.buffered = rest.length;
    return msg;
  }
}

export function readHeader(buf: Buffer): WireHeader {
  return {
    length: buf.readInt32LE(0),
    requestId: buf.readInt32LE(4),
    responseTo: buf.readInt32LE(8),
    opCode: buf.readInt32LE(12),
  };
}

function readCString(buf: Buffer, at: number): [string, number] {
  const end = buf.indexOf(0, at);
  if (end < 0) throw new WireProtocolError('unterminated cstring');
  return [buf.toString('utf8', at, end), end + 1];
}

function readDocument(buf: Buffer, at: number, limit: number): [Document, number] {
  if (at + 4 > limit) throw new WireProtocolError('truncated document');
  const size = buf.readInt32LE(at);
  if (size < 5 || at + size > limit) throw new WireProtocolError('bad document size');
  return [deserialize(buf.subarray(at, at + size), DESERIALIZE), at + size];
}

/** Parse one complete message. Throws WireProtocolError for opcodes we do not speak. */
export function parseMessage(buf: Buffer): WireRequest {
  const header = readHeader(buf);
  if (header.opCode === OP_MSG) return parseOpMsg(buf, header);
  if (header.opCode === OP_QUERY) return parseOpQuery(buf, header);
  throw new WireProtocolError(`unsupported opcode ${header.opCode}`);
}

function parseOpMsg(buf: Buffer, header: WireHeader): WireRequest {
  const flagBits = buf.readUInt32LE(16);
  // A CRC-32C trailer may follow the sections; we do not verify it, only skip it.
  const end = flagBits & MSG_CHECKSUM_PRESENT ? buf.length - 4 : buf.length;
  let at = 20;
  let body: Document | undefined;
  const sequences: Array<[string, Document[]]> = [];
  while (at < end) {
    const kind = buf[at++];
    if (kind === 0) {
      [body, at] = readDocument(buf, at, end);
    } else if (kind === 1) {
      const size = buf.readInt32LE(at);
      const seqEnd = at + size;
      if (seqEnd > end) throw new WireProtocolError('bad document sequence size');
      let [identifier, p] = readCString(buf, at + 4);
      const docs: Document[] = [];
      while (p < seqEnd) {
        let doc: Document;
        [doc, p] = readDocument(buf, p, seqEnd);
        docs.push(doc);
      }
      sequences.push([identifier, docs]);
      at = seqEnd;
    } else {
      throw new WireProtocolError(`unknown OP_MSG section kind ${kind}`);
    }
  }
  if (!body) throw new WireProtocolError('OP_MSG without a body section');
  for (const [identifier, docs] of sequences) body[identifier] = docs;
  const db = typeof body.$db === 'string' ? body.$db : 'admin';
  return { header, opCode: OP_MSG, db, body, moreToCome: (flagBits & MSG_MORE_TO_COME) !== 0 };
}

function parseOpQuery(buf: Buffer, header: WireHeader): WireRequest {
  // flags(int32) fullCollectionName(cstring) numberToSkip(int32) numberToReturn(int32) query(doc)
  const [ns, at] = readCString(buf, 20);
  let [query] = readDocument(buf, at + 8, buf.length);
  // Legacy read-preference wrapping: {$query: {...}, $readPreference: ...}
  if (query.$query && typeof query.$query === 'object') query = query.$query as Document;
  const dot = ns.indexOf('.');
  const db = dot < 0 ? ns : ns.slice(0, dot);
  if (!ns.endsWith('.$cmd')) throw new WireProtocolError(`OP_QUERY on a collection (${ns}) is not supported`);
  return { header, opCode: OP_QUERY, db, body: query, moreToCome: false };
}

function header(length: number, requestId: number, responseTo: number, opCode: number): Buffer {
  const h = Buffer.alloc(16);
  h.writeInt32LE(length, 0);
  h.writeInt32LE(requestId, 4);
  h.writeInt32LE(responseTo, 8);
  h.writeInt32LE(opCode, 12);
  return h;
}

/** A reply body that is already BSON, in parts (cursor replies spliced from cached document bytes). */
export class RawReply {
  readonly length: number;
  constructor(readonly parts: Buffer[]) {
    this.length = parts.reduce((n, p) => n + p.length, 0);
  }
  /** The reply as a document for in-process callers (runCommand), with the driver's default number view. */
  toDocument(): Document {
    return deserialize(Buffer.concat(this.parts, this.length), { promoteLongs: true, promoteValues: true });
  }
}

export type Reply = Document | RawReply;

function replyParts(reply: Reply): { parts: Buffer[]; length: number } {
  if (reply instanceof RawReply) return reply;
  const bytes = serialize(reply, { ignoreUndefined: true });
  return { parts: [Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)], length: bytes.byteLength };
}

/**
 * OP_MSG reply (flagBits 0, one kind-0 section), as buffers to write in order:
 * large document bytes are not copied into one message buffer.
 */
export function encodeOpMsg(requestId: number, responseTo: number, reply: Reply): Buffer[] {
  const body = replyParts(reply);
  const length = 16 + 4 + 1 + body.length;
  const prefix = Buffer.alloc(5); // flagBits (0) + section kind 0
  return [header(length, requestId, responseTo, OP_MSG), prefix, ...body.parts];
}

/** OP_REPLY to a legacy OP_QUERY: one document, cursor id 0. */
export function encodeOpReply(requestId: number, responseTo: number, reply: Reply): Buffer[] {
  const body = replyParts(reply);
  const fixed = Buffer.alloc(20);
  fixed.writeInt32LE(8, 0); // responseFlags: AwaitCapable
  fixed.writeBigInt64LE(0n, 4); // cursorID
  fixed.writeInt32LE(0, 12); // startingFrom
  fixed.writeInt32LE(1, 16); // numberReturned
  const length = 16 + 20 + body.length;
  return [header(length, requestId, responseTo, OP_REPLY), fixed, ...body.parts];
}

const int32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32LE(n);
  return b;
};

/**
 * `{cursor: {<batchName>: [docs], id: <int64>, ns}, ok: 1}` built around the
 * documents' BSON bytes, without serializing them again.
 */
export function cursorReply(batchName: 'firstBatch' | 'nextBatch', docs: Buffer[], id: number, ns: string): RawReply {
  const items: Buffer[] = [];
  let arrayLen = 4 + 1;
  docs.forEach((raw, i) => {
    const key = Buffer.from(`\x03${i}\0`, 'latin1');
    items.push(key, raw);
    arrayLen += key.length + raw.length;
  });
  const batchKey = Buffer.from(`\x04${batchName}\0`, 'latin1');
  const idEl = Buffer.alloc(12);
  idEl.write('\x12id\0', 0, 'latin1');
  idEl.writeBigInt64LE(BigInt(id), 4);
  const nsBytes = Buffer.from(ns, 'utf8');
  const nsEl = Buffer.concat([Buffer.from('\x02ns\0', 'latin1'), int32(nsBytes.length + 1), nsBytes, Buffer.from([0])]);
  const cursorLen = 4 + batchKey.length + arrayLen + idEl.length + nsEl.length + 1;
  const cursorKey = Buffer.from('\x03cursor\0', 'latin1');
  const okEl = Buffer.alloc(12);
  okEl.write('\x01ok\0', 0, 'latin1');
  okEl.writeDoubleLE(1, 4);
  const topLen = 4 + cursorKey.length + cursorLen + okEl.length + 1;
  const end = Buffer.from([0]);
  return new RawReply([int32(topLen), cursorKey, int32(cursorLen), batchKey, int32(arrayLen), ...items, end, idEl, nsEl, end, okEl, end]);
}
