// A MongoDB wire-protocol server for tests: the real `mongodb` driver talks to
// it over TCP (no mongod can be installed on these machines). In-memory
// storage, mingo for query/update/aggregate semantics, and fault injection
// (refuse, delay, hold, write errors, write-concern errors, the lost ack).
//
//   const server = new MongoWireServer();       // { replicaSet: 'rs0' }: as Atlas, see below
//   await server.start();                       // ephemeral port on 127.0.0.1
//   const client = new MongoClient(server.uri);
//   server.faults.dropAfterWrite(1);            // next write applied, no reply
//   server.collection('iot_database', 'group_hours');   // deep copies
//
// Standalone: `node --import tsx test/support/mongo-server.ts --port N [--replica-set rs0]`
// prints `ready mongodb://127.0.0.1:N` and serves until SIGTERM/SIGINT (through npm,
// use `npm run -s mongo-test-server -- --port N` so npm's banner stays off stdout).
//
// Layout: mongo/wire.ts (framing, OP_QUERY/OP_MSG/OP_REPLY), mongo/crud.ts and
// mongo/admin.ts (command handlers), mongo/update.ts (update semantics),
// mongo/store.ts + mongo/keys.ts (collections, unique indexes), mongo/lookup.ts
// (index use for speed), mongo/int64.ts (int64 round trips), mongo/cursors.ts,
// mongo/replset.ts (replica-set mode: retryable writes), mongo/faults.ts,
// mongo/errors.ts, mongo/throttle-proxy.ts (a slow site uplink in front of it).
//
// What it does as mongod/Atlas do: a replica-set mode whose primary answers a
// retried txnNumber from the first execution; write-concern errors beside an
// applied write; 40 for conflicting update operators; createIndexes that creates
// all or none (86, 85, 11000); int64 values that come back as int64.
//
// Known differences from mongod, on purpose or not yet needed:
// - Arithmetic on a stored int64 ($inc, aggregation operators) sees a Long
//   object; an aggregation's output has numbers where its input had int64s.
//   Whole doubles come back as int32. mingo cannot query bigints, hence no useBigInt64.
// - Decimal128 and Binary compare by their string form in queries and sorts
//   (equality is right, ordering of Decimal128 is not).
// - No auth, no transactions (error 20), no $merge, no $jsonSchema validation,
//   no collation, no TTL expiry; an index is used for speed only by equality on
//   its first field (lookup.ts) and the _id lookup; writeConcern and readConcern
//   are accepted and only the injected faults fail them; maxTimeMS only cuts
//   injected delays; a retried write is remembered per command, not per stmtId.
import { createServer, type Server, type Socket } from 'node:net';
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import type { Document } from 'bson';
import { ADMIN_HANDLERS } from './mongo/admin.ts';
import { CRUD_HANDLERS, type CommandContext, type Handler } from './mongo/crud.ts';
import { CursorRegistry } from './mongo/cursors.ts';
import { CODE_NAMES, injectedToServerError, ServerError, toServerError } from './mongo/errors.ts';
import { Faults, WRITE_COMMANDS } from './mongo/faults.ts';
import { commandView } from './mongo/int64.ts';
import { primaryHello, RETRYABLE_CODES, RetryableWrites } from './mongo/replset.ts';
import { cloneDoc, Store, type IndexSpec } from './mongo/store.ts';
import { encodeOpMsg, encodeOpReply, MessageFramer, OP_QUERY, parseMessage, RawReply, type Reply, type WireRequest } from './mongo/wire.ts';

export { Faults } from './mongo/faults.ts';
export { ThrottledLink } from './mongo/throttle-proxy.ts';
export type { WriteStatement, WritePredicate, CommandPredicate, InjectedWriteConcernError } from './mongo/faults.ts';
export type { InjectedError } from './mongo/errors.ts';
export type { IndexSpec } from './mongo/store.ts';

const HANDLERS: Record<string, Handler> = { ...ADMIN_HANDLERS, ...CRUD_HANDLERS };

export interface MongoWireServerOptions {
  /** Interface to listen on; default 127.0.0.1. */
  host?: string;
  /** Called with one line per notable event (connections, protocol errors, faults). */
  log?: (line: string) => void;
  /**
   * Serve as the primary of a replica set of this name (as Atlas does) instead of a standalone:
   * the driver then sends retryable writes (`lsid` + `txnNumber`), and a retried transaction
   * number is answered from memory (mongo/replset.ts). `uri` carries `?replicaSet=<name>`.
   */
  replicaSet?: string;
}

export interface MongoWireServerStats {
  /** Commands received, by name (counted before faults apply). */
  commands: Record<string, number>;
  connectionsOpened: number;
  connectionsCurrent: number;
  connectionsRefused: number;
  /** Sockets destroyed by dropAfterWrite / dropBeforeCommand. */
  droppedAfterWrite: number;
  droppedBeforeCommand: number;
  /** Commands answered with an injected top-level error. */
  injectedCommandErrors: number;
  /** Writes answered with an injected writeConcernError (applied, not majority-acknowledged). */
  writeConcernErrors: number;
  /** Replica-set mode: retried writes answered from the first execution's outcome, not run again. */
  retriedWritesReplayed: number;
  /** Server-side cursors still open (not exhausted or killed). */
  openCursors: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class MongoWireServer {
  /** Fault injection; change it at any time, also while operations are in flight. */
  readonly faults = new Faults();
  /** The in-memory data (kept across stop()/start()). */
  readonly store = new Store();
  private readonly cursors = new CursorRegistry();
  private readonly host: string;
  private readonly log: (line: string) => void;
  private readonly replicaSet: string | null;
  private readonly retryable = new RetryableWrites();
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private listenPort = 0;
  private nextConnectionId = 1;
  private nextRequestId = 1;
  private counters = this.freshStats();

  constructor(opts: MongoWireServerOptions = {}) {
    this.host = opts.host ?? '127.0.0.1';
    this.log = opts.log ?? (() => {});
    this.replicaSet = opts.replicaSet ?? null;
  }

  /** Listen on `port` (0 = ephemeral). Calling start() again after stop() serves the same data. */
  async start(port = 0): Promise<void> {
    if (this.server) throw new Error('MongoWireServer already started');
    const server = createServer((sock) => this.onConnection(sock));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.listenPort = (server.address() as { port: number }).port;
  }

  /** Stop listening and close every connection. Data is kept; start(server.port) serves it again. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    this.dropConnections();
    this.cursors.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  get port(): number {
    return this.listenPort;
  }

  get uri(): string {
    return `mongodb://${this.host}:${this.listenPort}${this.replicaSet ? `/?replicaSet=${this.replicaSet}` : ''}`;
  }

  get listening(): boolean {
    return this.server !== null;
  }

  /** Destroy every open connection (the driver sees network errors on in-flight operations). */
  dropConnections(): number {
    const n = this.sockets.size;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    return n;
  }

  /** Deep copies of the stored documents, in natural (insertion) order; [] if the collection does not exist. */
  collection(db: string, name: string): Document[] {
    return this.store.get(db, name)?.all().map((d) => cloneDoc(d)) ?? [];
  }

  /** Index specs of a collection ([] if it does not exist). */
  indexes(db: string, name: string): IndexSpec[] {
    return this.store.get(db, name)?.indexes.map((s) => cloneDoc(s)) ?? [];
  }

  collectionNames(db: string): string[] {
    return this.store.collections(db).map((c) => c.name);
  }

  databaseNames(): string[] {
    return this.store.databases();
  }

  /** Forget all data, open cursors and remembered retryable writes (faults and stats stay). */
  clear(): void {
    this.store.clear();
    this.cursors.clear();
    this.retryable.clear();
  }

  stats(): MongoWireServerStats {
    return {
      ...this.counters,
      commands: { ...this.counters.commands },
      connectionsCurrent: this.sockets.size,
      openCursors: this.cursors.size,
      retriedWritesReplayed: this.retryable.replayed,
    };
  }

  resetStats(): void {
    this.counters = this.freshStats();
    this.retryable.replayed = 0;
  }

  /**
   * Run a command in-process, as if a client sent it on `db`: as the primary runs it (a retried
   * write is answered from memory, a write-concern fault applies), without delays or drops.
   */
  runCommand(db: string, body: Document): Document {
    const name = Object.keys(body)[0] ?? '';
    const reply = this.write(name, commandView(name, body), db, 0);
    return reply instanceof RawReply ? reply.toDocument() : reply;
  }

  private freshStats(): MongoWireServerStats {
    return {
      commands: {},
      connectionsOpened: 0,
      connectionsCurrent: 0,
      connectionsRefused: 0,
      droppedAfterWrite: 0,
      droppedBeforeCommand: 0,
      injectedCommandErrors: 0,
      writeConcernErrors: 0,
      retriedWritesReplayed: 0,
      openCursors: 0,
    };
  }

  private onConnection(sock: Socket): void {
    sock.on('error', () => {});
    if (this.faults.refuseConnections) {
      this.counters.connectionsRefused++;
      sock.destroy();
      return;
    }
    const connectionId = this.nextConnectionId++;
    this.counters.connectionsOpened++;
    this.sockets.add(sock);
    sock.setNoDelay(true);
    sock.on('close', () => this.sockets.delete(sock));
    const framer = new MessageFramer();
    let chain = Promise.resolve();
    sock.on('data', (chunk: Buffer) => {
      let messages: Buffer[];
      try {
        messages = framer.push(chunk);
      } catch (err) {
        this.log(`conn ${connectionId}: ${String(err)}; closing`);
        sock.destroy();
        return;
      }
      // One connection's requests are answered in order, one at a time.
      for (const m of messages) {
        chain = chain
          .then(() => this.handle(sock, connectionId, m))
          .catch((err) => {
            this.log(`conn ${connectionId}: internal error ${String(err)}; closing`);
            sock.destroy();
          });
      }
    });
  }

  private async handle(sock: Socket, connectionId: number, raw: Buffer): Promise<void> {
    if (sock.destroyed) return;
    let req: WireRequest;
    try {
      req = parseMessage(raw);
    } catch (err) {
      this.log(`conn ${connectionId}: ${String(err)}; closing`);
      sock.destroy();
      return;
    }
    const name = Object.keys(req.body)[0] ?? '';
    req.body = commandView(name, req.body);
    this.counters.commands[name] = (this.counters.commands[name] ?? 0) + 1;
    const held = this.faults.held(name);
    if (held) await held;
    const delay = this.faults.delayFor(name, req.body);
    // A delayed command that carries maxTimeMS (the driver adds it under timeoutMS)
    // times out server-side as mongod would: MaxTimeMSExpired, nothing applied.
    const maxTimeMS = typeof req.body.maxTimeMS === 'number' && req.body.maxTimeMS > 0 ? req.body.maxTimeMS : 0;
    const expires = delay > 0 && maxTimeMS > 0 && delay >= maxTimeMS;
    if (delay > 0) await sleep(expires ? maxTimeMS : delay);
    if (sock.destroyed) return;
    let reply: Reply;
    if (expires) {
      reply = new ServerError(50, 'operation exceeded time limit').toReply();
    } else {
      if (this.faults.takeDropBefore(name)) {
        this.counters.droppedBeforeCommand++;
        this.log(`conn ${connectionId}: dropped before ${name}`);
        sock.destroy();
        return;
      }
      reply = this.write(name, req.body, req.db, connectionId);
      if (WRITE_COMMANDS.has(name) && this.faults.takeDropAfter(name)) {
        this.counters.droppedAfterWrite++;
        this.log(`conn ${connectionId}: applied ${name}, dropping the connection before the reply`);
        sock.destroy();
        return;
      }
    }
    if (req.moreToCome) return;
    const requestId = this.nextRequestId++;
    let parts: Buffer[];
    try {
      parts = req.opCode === OP_QUERY ? encodeOpReply(requestId, req.header.requestId, reply) : encodeOpMsg(requestId, req.header.requestId, reply);
    } catch (err) {
      parts = encodeOpMsg(requestId, req.header.requestId, toServerError(err).toReply());
    }
    sock.cork();
    for (const p of parts) sock.write(p);
    sock.uncork();
  }

  /**
   * A command as the primary runs it: a retried write (replica-set mode) is answered from the
   * first execution; a write-concern fault is added to the reply of a write that was applied.
   */
  private write(name: string, body: Document, db: string, connectionId: number): Reply {
    if (!WRITE_COMMANDS.has(name)) return this.execute(name, body, db, connectionId);
    let reply: Reply;
    try {
      const remembered = this.replicaSet ? this.retryable.lookup(body) : null;
      if (remembered) {
        this.log(`conn ${connectionId}: retried ${name} (txnNumber ${String(body.txnNumber)}) answered from its first execution`);
        reply = remembered;
      } else {
        reply = this.execute(name, body, db, connectionId);
        if (this.replicaSet && !(reply instanceof RawReply)) this.retryable.record(body, reply);
      }
    } catch (err) {
      return toServerError(err).toReply();
    }
    const wce = reply instanceof RawReply || reply.ok !== 1 ? null : this.faults.takeWriteConcernError(name);
    if (!wce || reply instanceof RawReply) return reply;
    this.counters.writeConcernErrors++;
    const writeConcernError: Document = { code: wce.code, codeName: wce.codeName ?? CODE_NAMES[wce.code] ?? 'UnknownError', errmsg: wce.errmsg ?? 'injected write concern error' };
    if (wce.errInfo) writeConcernError.errInfo = wce.errInfo;
    const labelled = this.replicaSet && body.txnNumber !== undefined && RETRYABLE_CODES.has(wce.code);
    return { ...reply, writeConcernError, ...(labelled ? { errorLabels: ['RetryableWriteError'] } : {}) };
  }

  private execute(name: string, body: Document, db: string, connectionId: number): Reply {
    try {
      const injected = this.faults.takeCommandError(name, body, db);
      if (injected) {
        this.counters.injectedCommandErrors++;
        throw injectedToServerError(injected);
      }
      if (body.startTransaction || body.autocommit !== undefined) {
        throw new ServerError(20, 'Transaction numbers are only allowed on a replica set member or mongos');
      }
      const handler = Object.hasOwn(HANDLERS, name) ? HANDLERS[name] : undefined;
      if (!handler) throw new ServerError(59, `no such command: '${name}'`);
      const topology = this.replicaSet ? primaryHello(this.replicaSet, `${this.host}:${this.listenPort}`) : {};
      const ctx: CommandContext = { store: this.store, cursors: this.cursors, faults: this.faults, connectionId, db, topology };
      return handler(body, ctx);
    } catch (err) {
      return toServerError(err).toReply();
    }
  }
}

/**
 * The MongoDB for a test: the server at MONGODB_URI when it is set (then
 * `server` is undefined and stop() does nothing), else a fresh wire server.
 */
export async function startMongoForTests(opts: Pick<MongoWireServerOptions, 'replicaSet'> = {}): Promise<{ uri: string; server?: MongoWireServer; stop(): Promise<void> }> {
  const env = process.env.MONGODB_URI;
  if (env) return { uri: env, stop: async () => {} };
  const server = new MongoWireServer(opts);
  await server.start(0);
  return { uri: server.uri, server, stop: () => server.stop() };
}

async function main(argv: string[]): Promise<void> {
  let port = 0;
  let host = '127.0.0.1';
  let verbose = false;
  let replicaSet: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--port' || a.startsWith('--port=')) port = Number(value());
    else if (a === '--host' || a.startsWith('--host=')) host = value();
    else if (a === '--replica-set' || a.startsWith('--replica-set=')) replicaSet = value();
    else if (a === '--verbose' || a === '-v') verbose = true;
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: mongo-server.ts [--port N] [--host H] [--replica-set NAME] [--verbose]\n');
      return;
    } else throw new Error(`unknown argument: ${a}`);
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid --port: ${port}`);
  const server = new MongoWireServer({ host, replicaSet, log: verbose ? (l) => process.stderr.write(`${l}\n`) : undefined });
  await server.start(port);
  process.stdout.write(`ready ${server.uri}\n`);
  const shutdown = () => {
    server.stop().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

function isMain(): boolean {
  if (!process.argv[1]) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href;
  } catch {
    return false;
  }
}

if (isMain()) {
  main(process.argv.slice(2)).catch((err) => {
    process.stderr.write(`mongo-server: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
