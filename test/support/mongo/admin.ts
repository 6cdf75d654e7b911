// Handshake, diagnostics, namespace and index commands.
import { calculateObjectSize, type Document } from 'bson';
import { Query } from 'mingo';
import type { CommandContext, Handler } from './crud.ts';
import { ServerError } from './errors.ts';

export const SERVER_VERSION = '7.0.0';

/** The handshake reply: a writable standalone, or the primary of a replica set (replset.ts); no topologyVersion. */
const hello: Handler = (body, ctx) => ({
  ...(body.helloOk ? { helloOk: true } : {}),
  ...ctx.topology,
  isWritablePrimary: true,
  ismaster: true,
  maxBsonObjectSize: 16 * 1024 * 1024,
  maxMessageSizeBytes: 48_000_000,
  maxWriteBatchSize: 100_000,
  localTime: new Date(),
  logicalSessionTimeoutMinutes: 30,
  connectionId: ctx.connectionId,
  minWireVersion: 0,
  maxWireVersion: 21,
  readOnly: false,
  ok: 1,
});

const buildInfo: Handler = () => ({
  version: SERVER_VERSION,
  gitVersion: 'iotgw-test-server',
  versionArray: [7, 0, 0, 0],
  bits: 64,
  debug: false,
  maxBsonObjectSize: 16 * 1024 * 1024,
  storageEngines: ['memory'],
  modules: [],
  ok: 1,
});

const getParameter: Handler = (body) => {
  const reply: Document = { ok: 1 };
  if (body.featureCompatibilityVersion || body.getParameter === '*') reply.featureCompatibilityVersion = { version: '7.0' };
  return reply;
};

const ok: Handler = () => ({ ok: 1 });

const notInTransactions: Handler = () => {
  throw new ServerError(20, 'Transaction numbers are only allowed on a replica set member or mongos');
};

function collectionInfo(ctx: CommandContext, name: string, nameOnly: boolean): Document {
  if (nameOnly) return { name, type: 'collection' };
  const c = ctx.store.get(ctx.db, name)!;
  return {
    name,
    type: 'collection',
    options: c.options,
    info: { readOnly: false, uuid: c.uuid },
    idIndex: { v: 2, key: { _id: 1 }, name: '_id_' },
  };
}

const listCollections: Handler = (body, ctx) => {
  const nameOnly = !!body.nameOnly;
  let infos = ctx.store.collections(ctx.db).map((c) => collectionInfo(ctx, c.name, false));
  if (body.filter && Object.keys(body.filter).length) {
    const q = new Query(body.filter);
    infos = infos.filter((i) => q.test(i));
  }
  if (nameOnly) infos = infos.map((i) => ({ name: i.name, type: i.type }));
  return ctx.cursors.first(`${ctx.db}.$cmd.listCollections`, infos, { batchSize: body.cursor?.batchSize });
};

const listDatabases: Handler = (body, ctx) => {
  let dbs = ctx.store.databases().map((name) => {
    let sizeOnDisk = 0;
    for (const c of ctx.store.collections(name)) for (const d of c.docs.values()) sizeOnDisk += calculateObjectSize(d);
    return { name, sizeOnDisk, empty: sizeOnDisk === 0 };
  });
  if (body.filter && Object.keys(body.filter).length) {
    const q = new Query(body.filter);
    dbs = dbs.filter((d) => q.test(d));
  }
  if (body.nameOnly) return { databases: dbs.map((d) => ({ name: d.name })), ok: 1 };
  const totalSize = dbs.reduce((s, d) => s + d.sizeOnDisk, 0);
  return { databases: dbs, totalSize, totalSizeMb: Math.round(totalSize / 1048576), ok: 1 };
};

const listIndexes: Handler = (body, ctx) => {
  const c = ctx.store.get(ctx.db, String(body.listIndexes));
  if (!c) throw new ServerError(26, `ns does not exist: ${ctx.db}.${String(body.listIndexes)}`);
  return ctx.cursors.first(c.ns, c.indexes, { batchSize: body.cursor?.batchSize });
};

const createIndexes: Handler = (body, ctx) => {
  const name = String(body.createIndexes);
  const existed = !!ctx.store.get(ctx.db, name);
  const specs = Array.isArray(body.indexes) ? (body.indexes as Document[]) : [];
  if (specs.length === 0) throw new ServerError(2, 'Must specify at least one index to create');
  const c = ctx.store.ensure(ctx.db, name);
  const numIndexesBefore = c.indexes.length;
  const created = c.createIndexes(specs);
  const reply: Document = {
    numIndexesBefore,
    numIndexesAfter: c.indexes.length,
    createdCollectionAutomatically: !existed,
    ok: 1,
  };
  if (created === 0) reply.note = 'all indexes already exist';
  return reply;
};

const dropIndexes: Handler = (body, ctx) => {
  const c = ctx.store.get(ctx.db, String(body.dropIndexes));
  if (!c) throw new ServerError(26, `ns not found ${ctx.db}.${String(body.dropIndexes)}`);
  const which = Array.isArray(body.index) ? body.index : [body.index];
  const nIndexesWas = c.indexes.length;
  for (const w of which) c.dropIndex(w);
  return { nIndexesWas, ok: 1 };
};

const create: Handler = (body, ctx) => {
  const { create: name, $db, lsid, writeConcern, $clusterTime, $readPreference, ...options } = body;
  ctx.store.create(ctx.db, String(name), options);
  return { ok: 1 };
};

const drop: Handler = (body, ctx) => {
  const name = String(body.drop);
  const c = ctx.store.drop(ctx.db, name);
  // Since 7.0 dropping a missing collection succeeds.
  return { nIndexesWas: c?.indexes.length ?? 0, ns: `${ctx.db}.${name}`, ok: 1 };
};

const dropDatabase: Handler = (_body, ctx) => {
  ctx.store.dropDatabase(ctx.db);
  return { dropped: ctx.db, ok: 1 };
};

const renameCollection: Handler = (body, ctx) => {
  const split = (ns: unknown): [string, string] => {
    const s = String(ns);
    const i = s.indexOf('.');
    if (i <= 0) throw new ServerError(73, `Invalid namespace specified '${s}'`);
    return [s.slice(0, i), s.slice(i + 1)];
  };
  const [fromDb, fromName] = split(body.renameCollection);
  const [toDb, toName] = split(body.to);
  const src = ctx.store.get(fromDb, fromName);
  if (!src) throw new ServerError(26, 'source namespace does not exist');
  if (ctx.store.get(toDb, toName)) {
    if (!body.dropTarget) throw new ServerError(48, 'target namespace exists');
    ctx.store.drop(toDb, toName);
  }
  ctx.store.rename(src, toDb, toName);
  return { ok: 1 };
};

const connectionStatus: Handler = () => ({
  authInfo: { authenticatedUsers: [], authenticatedUserRoles: [] },
  ok: 1,
});

const serverStatus: Handler = () => ({
  host: '127.0.0.1',
  version: SERVER_VERSION,
  process: 'iotgw-mongo-test-server',
  uptime: Math.floor(process.uptime()),
  localTime: new Date(),
  ok: 1,
});

export const ADMIN_HANDLERS: Record<string, Handler> = {
  hello,
  isMaster: hello,
  ismaster: hello,
  ping: ok,
  buildInfo,
  buildinfo: buildInfo,
  getParameter,
  endSessions: ok,
  killAllSessions: ok,
  commitTransaction: notInTransactions,
  abortTransaction: notInTransactions,
  listCollections,
  listDatabases,
  listIndexes,
  createIndexes,
  dropIndexes,
  deleteIndexes: dropIndexes,
  create,
  drop,
  dropDatabase,
  renameCollection,
  connectionStatus,
  serverStatus,
  whatsmyuri: () => ({ you: '127.0.0.1', ok: 1 }),
  hostInfo: () => ({ system: { hostname: '127.0.0.1' }, os: { type: process.platform }, ok: 1 }),
  getCmdLineOpts: () => ({ argv: ['iotgw-mongo-test-server'], parsed: {}, ok: 1 }),
};
