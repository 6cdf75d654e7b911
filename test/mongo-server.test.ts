// The MongoDB wire-protocol test server, exercised with the real `mongodb` driver
// (and with raw sockets for the framing details the driver does not show).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect as netConnect } from 'node:net';
import { createInterface } from 'node:readline';
import { deserialize, serialize } from 'bson';
import {
  Binary,
  Decimal128,
  Long,
  MongoBulkWriteError,
  MongoNetworkError,
  MongoNetworkTimeoutError,
  MongoServerError,
  MongoServerSelectionError,
  ObjectId,
  type Document,
} from 'mongodb';
import { MongoWireServer, startMongoForTests } from './support/mongo-server.ts';
import { client, col, DB, withServer } from './support/mongo-client.ts';
import { freePort, waitFor } from './support/ports.ts';

const HOUR = 3600_000;
const T0 = Date.UTC(2024, 0, 1, 10, 0, 0);

describe('driver handshake and basics', () => {
  test('connects (legacy hello over OP_QUERY), pings, and reports a writable standalone', async () => {
    await withServer(async (s, c) => {
      assert.deepEqual(await c.db('admin').command({ ping: 1 }), { ok: 1 });
      const hello = await c.db('admin').command({ hello: 1 });
      assert.equal(hello.isWritablePrimary, true);
      assert.equal(hello.maxWireVersion, 21);
      assert.equal(hello.minWireVersion, 0);
      assert.equal(hello.setName, undefined);
      assert.equal(hello.maxBsonObjectSize, 16777216);
      assert.equal(hello.maxMessageSizeBytes, 48000000);
      assert.equal(hello.maxWriteBatchSize, 100000);
      assert.equal(hello.logicalSessionTimeoutMinutes, 30);
      assert.equal(typeof hello.connectionId, 'number');
      const info = await c.db('admin').command({ buildInfo: 1 });
      assert.match(info.version, /^\d+\.\d+\.\d+$/);
      const st = s.stats().commands;
      assert.ok((st.hello ?? 0) + (st.isMaster ?? 0) + (st.ismaster ?? 0) >= 2, JSON.stringify(st));
    });
  });

  test('an unknown command is CommandNotFound (59)', async () => {
    await withServer(async (_s, c) => {
      await assert.rejects(c.db(DB).command({ frobnicate: 1 }), (err: MongoServerError) => {
        assert.ok(err instanceof MongoServerError);
        assert.equal(err.code, 59);
        assert.equal(err.codeName, 'CommandNotFound');
        return true;
      });
    });
  });

  test('transactions are refused as on a standalone', async () => {
    await withServer(async (_s, c) => {
      await assert.rejects(c.db('admin').command({ commitTransaction: 1 }), (err: MongoServerError) => err.code === 20);
    });
  });
});

describe('documents', () => {
  test('1,000 documents come back sorted and limited across several getMore batches', async () => {
    await withServer(async (s, c) => {
      const coll = col(c, 'many');
      const res = await coll.insertMany(Array.from({ length: 1000 }, (_, i) => ({ i, even: i % 2 === 0 })));
      assert.equal(res.insertedCount, 1000);
      const docs = await coll.find({}, { batchSize: 100 }).sort({ i: -1 }).limit(950).toArray();
      assert.equal(docs.length, 950);
      assert.deepEqual(docs.map((d) => d.i), Array.from({ length: 950 }, (_, k) => 999 - k));
      assert.ok((s.stats().commands.getMore ?? 0) >= 9, `getMore count ${s.stats().commands.getMore}`);
      assert.equal(s.stats().openCursors, 0);

      const evens = await coll.find({ even: true }, { projection: { _id: 0, i: 1 } }).sort({ i: 1 }).skip(10).limit(3).toArray();
      assert.deepEqual(evens, [{ i: 20 }, { i: 22 }, { i: 24 }]);

      // A cursor closed early is killed on the server.
      const cursor = coll.find({}, { batchSize: 10 });
      await cursor.next();
      assert.equal(s.stats().openCursors, 1);
      await cursor.close();
      assert.equal(s.stats().commands.killCursors, 1);
      assert.equal(s.stats().openCursors, 0);
    });
  });

  test('BSON types round-trip and Date/ObjectId filters compare by value', async () => {
    await withServer(async (s, c) => {
      const coll = col(c, 'types');
      const id = new ObjectId();
      const big = Long.fromString('9007199254740993'); // past 2^53: stays a Long
      const doc = {
        _id: id,
        at: new Date(T0),
        small: Long.fromNumber(42),
        big,
        dec: Decimal128.fromString('12.345'),
        bin: new Binary(Buffer.from([0, 1, 2, 255]), 0),
        nested: { a: [1, { b: 'x' }], when: new Date(T0 + 1) },
      };
      await coll.insertOne(doc);
      await coll.insertOne({ _id: new ObjectId(), at: new Date(T0 + 2 * HOUR) });
      const back = await coll.findOne({ _id: new ObjectId(id.toHexString()) });
      assert.ok(back);
      assert.ok(back._id instanceof ObjectId && back._id.equals(id));
      assert.ok(back.at instanceof Date && back.at.getTime() === T0);
      assert.equal(back.small, 42); // promoteLongs: the driver's default view of an int64 in range
      assert.ok(back.big instanceof Long && back.big.equals(big));
      assert.ok(back.dec instanceof Decimal128 && back.dec.toString() === '12.345');
      assert.ok(back.bin instanceof Binary);
      assert.deepEqual([...back.bin.buffer], [0, 1, 2, 255]);
      assert.deepEqual(back.nested, { a: [1, { b: 'x' }], when: new Date(T0 + 1) });

      const inRange = await coll.find({ at: { $gte: new Date(T0), $lt: new Date(T0 + HOUR) } }).toArray();
      assert.equal(inRange.length, 1);
      assert.ok(inRange[0]._id.equals(id));
      assert.equal(await coll.countDocuments({ at: { $gt: new Date(T0) } }), 1);
      assert.equal(await coll.countDocuments({ _id: { $in: [id] } }), 1);
      // The server's own view is a deep copy.
      const stored = s.collection(DB, 'types');
      stored[0].at = new Date(0);
      assert.equal(s.collection(DB, 'types')[0].at.getTime(), T0);
    });
  });

  test('updateOne upsert with $setOnInsert keeps created_at on the second upsert', async () => {
    await withServer(async (s, c) => {
      const coll = col(c, 'device_groups');
      const upsert = (at: Date) =>
        coll.updateOne(
          { group_id: 'g1' },
          { $set: { last_updated: at, 'devices.d1': { v: at.getTime() } }, $setOnInsert: { created_at: at } },
          { upsert: true, writeConcern: { w: 'majority' } },
        );
      const first = await upsert(new Date(T0));
      assert.equal(first.upsertedCount, 1);
      assert.ok(first.upsertedId instanceof ObjectId);
      const second = await upsert(new Date(T0 + HOUR));
      assert.equal(second.upsertedCount, 0);
      assert.equal(second.matchedCount, 1);
      assert.equal(second.modifiedCount, 1);
      const docs = s.collection(DB, 'device_groups');
      assert.equal(docs.length, 1);
      assert.equal(docs[0].group_id, 'g1');
      assert.equal(docs[0].created_at.getTime(), T0);
      assert.equal(docs[0].last_updated.getTime(), T0 + HOUR);
      assert.deepEqual(docs[0].devices, { d1: { v: T0 + HOUR } });
      // The same update again changes nothing.
      const third = await upsert(new Date(T0 + HOUR));
      assert.equal(third.modifiedCount, 0);
    });
  });

  test('update operators: $inc $push/$each $addToSet $unset $max $min, multi, and a pipeline update', async () => {
    await withServer(async (_s, c) => {
      const coll = col(c, 'ops');
      await coll.insertMany([
        { _id: 1, n: 1, tags: ['a'], list: [], lo: 5, hi: 5, gone: true },
        { _id: 2, n: 10, tags: [], list: [], lo: 5, hi: 5 },
      ]);
      const ops: Document = { $inc: { n: 2 }, $push: { list: { $each: [1, 2] } }, $addToSet: { tags: { $each: ['a', 'b'] } }, $unset: { gone: '' }, $max: { hi: 9 }, $min: { lo: 1 } };
      await coll.updateOne({ _id: 1 }, ops);
      assert.deepEqual(await coll.findOne({ _id: 1 }), { _id: 1, n: 3, tags: ['a', 'b'], list: [1, 2], lo: 1, hi: 9 });
      const many = await coll.updateMany({ n: { $gte: 3 } }, { $inc: { n: 100 } });
      assert.equal(many.matchedCount, 2);
      assert.equal(many.modifiedCount, 2);
      await coll.updateOne({ _id: 2 }, [{ $set: { double: { $multiply: ['$n', 2] } } }]);
      assert.equal((await coll.findOne({ _id: 2 }))?.double, 220);
      await assert.rejects(coll.updateOne({ _id: 2 }, { $set: { _id: 3 } }), (err: MongoServerError) => err.code === 66);
    });
  });

  test('replaceOne with upsert inserts with the filter _id, then replaces the whole document', async () => {
    await withServer(async (s, c) => {
      const coll = col(c, 'group_hours');
      const r1 = await coll.replaceOne({ _id: 'gw1:g1:2024010110' }, { group_id: 'g1', count: 2, extra: 1 }, { upsert: true });
      assert.equal(r1.upsertedCount, 1);
      assert.equal(r1.upsertedId, 'gw1:g1:2024010110');
      const r2 = await coll.replaceOne({ _id: 'gw1:g1:2024010110' }, { group_id: 'g1', count: 3 }, { upsert: true });
      assert.equal(r2.matchedCount, 1);
      assert.equal(r2.modifiedCount, 1);
      assert.deepEqual(s.collection(DB, 'group_hours'), [{ _id: 'gw1:g1:2024010110', group_id: 'g1', count: 3 }]);
    });
  });

  test('bulkWrite of mixed operations with w: "majority"', async () => {
    await withServer(async (s, c) => {
      const coll = col(c, 'bulk');
      await coll.insertMany([{ _id: 1, v: 1 }, { _id: 2, v: 2 }, { _id: 3, v: 3 }]);
      const res = await coll.bulkWrite(
        [
          { insertOne: { document: { _id: 4, v: 4 } } },
          { updateOne: { filter: { _id: 1 }, update: { $set: { v: 10 } } } },
          { updateOne: { filter: { _id: 9 }, update: { $set: { v: 9 } }, upsert: true } },
          { updateMany: { filter: { v: { $lt: 4 } }, update: { $inc: { v: 100 } } } },
          { replaceOne: { filter: { _id: 4 }, replacement: { v: 40 } } },
          { deleteOne: { filter: { _id: 3 } } },
        ],
        { ordered: true, writeConcern: { w: 'majority' } },
      );
      assert.equal(res.insertedCount, 1);
      assert.equal(res.upsertedCount, 1);
      assert.equal(res.matchedCount, 4);
      assert.equal(res.modifiedCount, 4);
      assert.equal(res.deletedCount, 1);
      const docs = s.collection(DB, 'bulk');
      assert.deepEqual(docs.map((d) => [d._id, d.v]), [[1, 10], [2, 102], [4, 40], [9, 9]]);
    });
  });

  test('deleteOne/deleteMany, countDocuments, estimatedDocumentCount, distinct, findOneAndUpdate', async () => {
    await withServer(async (_s, c) => {
      const coll = col(c, 'del');
      await coll.insertMany(Array.from({ length: 10 }, (_, i) => ({ i, g: i % 3, tags: [`t${i % 2}`] })));
      assert.equal(await coll.countDocuments(), 10);
      assert.equal(await coll.countDocuments({ g: 0 }), 4);
      assert.equal(await coll.countDocuments({}, { skip: 2, limit: 5 }), 5);
      assert.equal(await coll.estimatedDocumentCount(), 10);
      assert.deepEqual((await coll.distinct('g')).sort(), [0, 1, 2]);
      assert.deepEqual((await coll.distinct('tags')).sort(), ['t0', 't1']);
      assert.equal((await coll.deleteOne({ g: 1 })).deletedCount, 1);
      assert.equal((await coll.deleteMany({ g: 0 })).deletedCount, 4);
      assert.equal(await coll.countDocuments(), 5);
      const after = await coll.findOneAndUpdate({ i: 2 }, { $set: { seen: true } }, { returnDocument: 'after' });
      assert.equal(after?.seen, true);
      const removed = await coll.findOneAndDelete({ i: 2 });
      assert.equal(removed?.i, 2);
      assert.equal(await coll.countDocuments(), 4);
    });
  });

  test('a query-style collection validator rejects documents with 121; $natural sort; projection keeps _id first', async () => {
    await withServer(async (s, c) => {
      await c.db(DB).createCollection('validated', { validator: { temp: { $type: 'number' } } });
      const coll = col(c, 'validated');
      await coll.insertOne({ _id: 1, temp: 20 });
      await coll.insertOne({ _id: 2, temp: 21 });
      await assert.rejects(coll.insertOne({ _id: 3, temp: 'hot' }), (err: MongoServerError) => err.code === 121);
      await assert.rejects(coll.updateOne({ _id: 1 }, { $set: { temp: 'hot' } }), (err: MongoServerError) => err.code === 121);
      assert.deepEqual(s.collection(DB, 'validated'), [{ _id: 1, temp: 20 }, { _id: 2, temp: 21 }]);
      assert.deepEqual((await coll.find().sort({ $natural: -1 }).toArray()).map((d) => d._id), [2, 1]);
      const projected = await coll.findOne({ _id: 2 }, { projection: { temp: 1 } });
      assert.deepEqual(Object.keys(projected ?? {}), ['_id', 'temp']);
    });
  });

  test('runCommand runs a command in-process and returns the reply document', async () => {
    const s = new MongoWireServer();
    s.runCommand(DB, { insert: 'inproc', documents: [{ _id: 1 }, { _id: 2 }] });
    const reply = s.runCommand(DB, { find: 'inproc', filter: { _id: { $gt: 1 } } });
    assert.equal(reply.ok, 1);
    assert.equal(reply.cursor.ns, `${DB}.inproc`);
    assert.equal(reply.cursor.id, 0);
    assert.deepEqual(reply.cursor.firstBatch, [{ _id: 2 }]);
    assert.equal(s.runCommand(DB, { nope: 1 }).code, 59);
  });
});

describe('indexes', () => {
  test('a unique index rejects duplicates with code 11000 on insert, update and upsert', async () => {
    await withServer(async (s, c) => {
      const coll = col(c, 'uniq');
      assert.equal(await coll.createIndex({ group_id: 1 }, { unique: true }), 'group_id_1');
      await coll.insertOne({ group_id: 'g1' });
      await assert.rejects(coll.insertOne({ group_id: 'g1' }), (err: MongoServerError) => {
        assert.ok(err instanceof MongoServerError);
        assert.equal(err.code, 11000);
        assert.deepEqual(err.keyValue, { group_id: 'g1' });
        assert.match(err.message, /E11000 duplicate key error collection: iot_test.uniq index: group_id_1/);
        return true;
      });
      await assert.rejects(coll.insertMany([{ group_id: 'g2' }, { group_id: 'g1' }, { group_id: 'g3' }], { ordered: false }), (err: MongoBulkWriteError) => {
        assert.ok(err instanceof MongoBulkWriteError);
        assert.equal(err.code, 11000);
        assert.equal(err.result.insertedCount, 2);
        assert.deepEqual(err.writeErrors instanceof Array ? err.writeErrors.map((e) => e.index) : [err.writeErrors.index], [1]);
        return true;
      });
      await coll.insertOne({ group_id: 'g4' });
      await assert.rejects(coll.updateOne({ group_id: 'g4' }, { $set: { group_id: 'g2' } }), (err: MongoServerError) => err.code === 11000);
      await assert.rejects(coll.updateOne({ group_id: 'nope', x: 1 }, { $set: { group_id: 'g3' } }, { upsert: true }), (err: MongoServerError) => err.code === 11000);
      assert.deepEqual(s.collection(DB, 'uniq').map((d) => d.group_id).sort(), ['g1', 'g2', 'g3', 'g4']);
      // Duplicate _id is the same error on the _id_ index.
      await assert.rejects(coll.insertOne({ _id: s.collection(DB, 'uniq')[0]._id, group_id: 'g9' }), (err: MongoServerError) => err.code === 11000 && /index: _id_/.test(err.message));
    });
  });

  test('a compound unique index, and a unique index build over existing duplicates fails', async () => {
    await withServer(async (_s, c) => {
      const coll = col(c, 'compound');
      await coll.createIndex({ gateway_id: 1, group_id: 1, hour: 1 }, { unique: true, name: 'gw_group_hour' });
      const hour = new Date(T0);
      await coll.insertOne({ gateway_id: 'a', group_id: 'g', hour });
      await coll.insertOne({ gateway_id: 'a', group_id: 'g', hour: new Date(T0 + HOUR) });
      await coll.insertOne({ gateway_id: 'b', group_id: 'g', hour });
      await assert.rejects(coll.insertOne({ gateway_id: 'a', group_id: 'g', hour: new Date(T0) }), (err: MongoServerError) => {
        assert.equal(err.code, 11000);
        assert.deepEqual(err.keyPattern, { gateway_id: 1, group_id: 1, hour: 1 });
        return true;
      });
      const dup = col(c, 'dups');
      await dup.insertMany([{ k: 1 }, { k: 1 }]);
      await assert.rejects(dup.createIndex({ k: 1 }, { unique: true }), (err: MongoServerError) => err.code === 11000);
      assert.equal((await dup.indexes()).length, 1);
    });
  });

  test('createIndex is idempotent; listIndexes and dropIndex', async () => {
    await withServer(async (s, c) => {
      const coll = col(c, 'idx');
      assert.equal(await coll.createIndex({ group_id: 1, hour: 1 }), 'group_id_1_hour_1');
      assert.equal(await coll.createIndex({ group_id: 1, hour: 1 }), 'group_id_1_hour_1');
      await coll.createIndexes([{ key: { 'readings.device_id': 1, hour: 1 }, name: 'device_hour' }]);
      await coll.createIndexes([{ key: { 'readings.device_id': 1, hour: 1 }, name: 'device_hour' }]);
      const names = (await coll.indexes()).map((i) => i.name);
      assert.deepEqual(names, ['_id_', 'group_id_1_hour_1', 'device_hour']);
      assert.deepEqual(s.indexes(DB, 'idx')[1].key, { group_id: 1, hour: 1 });
      await assert.rejects(coll.createIndex({ group_id: 1, hour: 1 }, { unique: true }), (err: MongoServerError) => err.code === 85);
      await assert.rejects(coll.createIndex({ other: 1 }, { name: 'device_hour' }), (err: MongoServerError) => err.code === 86);
      await coll.dropIndex('device_hour');
      assert.deepEqual((await coll.indexes()).map((i) => i.name), ['_id_', 'group_id_1_hour_1']);
    });
  });
});

describe('aggregation', () => {
  test('hourly mean per device: $match on a Date range, $unwind, $group by $dateTrunc, $sort', async () => {
    await withServer(async (_s, c) => {
      const coll = col(c, 'group_hours');
      const reading = (device: string, minute: number, temp: number) => ({ device_id: device, ts: new Date(T0 + minute * 60_000), temp });
      await coll.insertMany([
        { group_id: 'g1', hour: new Date(T0), readings: [reading('d1', 1, 10), reading('d1', 30, 20), reading('d2', 5, 1)] },
        { group_id: 'g1', hour: new Date(T0 + HOUR), readings: [reading('d1', 61, 30), reading('d2', 70, 3), reading('d2', 80, 5)] },
        { group_id: 'g1', hour: new Date(T0 + 2 * HOUR), readings: [reading('d1', 121, 99)] },
        { group_id: 'g2', hour: new Date(T0), readings: [reading('d9', 2, 50)] },
      ]);
      const rows = await coll
        .aggregate([
          { $match: { group_id: 'g1', hour: { $gte: new Date(T0), $lt: new Date(T0 + 2 * HOUR) } } },
          { $unwind: '$readings' },
          { $group: { _id: { device: '$readings.device_id', hour: { $dateTrunc: { date: '$readings.ts', unit: 'hour' } } }, mean: { $avg: '$readings.temp' }, n: { $sum: 1 } } },
          { $sort: { '_id.hour': 1, '_id.device': 1 } },
          { $project: { _id: 0, device: '$_id.device', hour: '$_id.hour', mean: 1, n: 1 } },
        ])
        .toArray();
      assert.deepEqual(
        rows.map((r) => [r.device, (r.hour as Date).getTime(), r.mean, r.n]),
        [
          ['d1', T0, 15, 2],
          ['d2', T0, 1, 1],
          ['d1', T0 + HOUR, 30, 1],
          ['d2', T0 + HOUR, 4, 2],
        ],
      );
      const counted = await coll.aggregate([{ $match: { group_id: 'g1' } }, { $addFields: { k: { $size: '$readings' } } }, { $match: { k: { $gte: 3 } } }, { $count: 'hours' }]).toArray();
      assert.deepEqual(counted, [{ hours: 2 }]);
      // The pipeline did not change the stored documents.
      assert.equal((await coll.findOne({ group_id: 'g2' }))?.k, undefined);
      const limited = await coll.aggregate([{ $sort: { hour: -1 } }, { $limit: 1 }, { $project: { _id: 0, group_id: 1 } }], { batchSize: 1 }).toArray();
      assert.deepEqual(limited, [{ group_id: 'g1' }]);
    });
  });
});

describe('namespaces', () => {
  test('listCollections (nameOnly, filter), listDatabases, drop and dropDatabase', async () => {
    await withServer(async (s, c) => {
      const db = c.db(DB);
      await db.collection('a').insertOne({ x: 1 });
      await db.createCollection('b');
      await assert.rejects(db.createCollection('b'), (err: MongoServerError) => err.code === 48);
      const names = (await db.listCollections({}, { nameOnly: true }).toArray()).map((x) => x.name).sort();
      assert.deepEqual(names, ['a', 'b']);
      const filtered = await db.listCollections({ name: 'a' }).toArray();
      assert.equal(filtered.length, 1);
      assert.equal(filtered[0].type, 'collection');
      const dbs = await c.db('admin').admin().listDatabases();
      assert.ok(dbs.databases.some((d) => d.name === DB));
      assert.equal(await db.collection('a').drop(), true);
      assert.deepEqual(s.collectionNames(DB), ['b']);
      assert.equal(await db.dropDatabase(), true);
      assert.deepEqual(s.databaseNames(), []);
    });
  });
});

describe('faults', () => {
  test('refused connections fail server selection; clearing the fault lets a client connect', async () => {
    const s = new MongoWireServer();
    await s.start();
    try {
      s.faults.refuseConnections = true;
      const c1 = client(s.uri, { serverSelectionTimeoutMS: 500, connectTimeoutMS: 500 });
      await assert.rejects(c1.db('admin').command({ ping: 1 }), MongoServerSelectionError);
      await c1.close(true);
      assert.ok(s.stats().connectionsRefused >= 1);
      s.faults.refuseConnections = false;
      const c2 = client(s.uri);
      assert.deepEqual(await c2.db('admin').command({ ping: 1 }), { ok: 1 });
      await c2.close();
    } finally {
      await s.stop();
    }
  });

  test('a stopped server is unreachable; start() on the same port serves the same data again', async () => {
    const s = new MongoWireServer();
    await s.start();
    const port = s.port;
    const c = client(s.uri, { serverSelectionTimeoutMS: 1500, heartbeatFrequencyMS: 500 });
    try {
      await col(c, 'keep').insertOne({ _id: 'k', v: 1 });
      await s.stop();
      await assert.rejects(col(c, 'keep').findOne({ _id: 'k' }));
      await s.start(port);
      const doc = await waitFor(() => col(c, 'keep').findOne({ _id: 'k' }), 10000, 'reconnect');
      assert.equal(doc.v, 1);
    } finally {
      await c.close(true);
      await s.stop();
    }
  });

  test('delayMs delays replies: past socketTimeoutMS the driver gives up, past maxTimeMS the server answers 50', async () => {
    await withServer(async (s, c) => {
      const coll = col(c, 'slow');
      s.faults.delayMs = 100;
      s.faults.delayFilter = (name) => name === 'insert' || name === 'find';
      await coll.insertOne({ _id: 1 }); // slow but fine
      s.faults.delayMs = 5000;
      const impatient = client(s.uri, { socketTimeoutMS: 300 });
      try {
        await assert.rejects(col(impatient, 'slow').insertOne({ _id: 2 }), MongoNetworkTimeoutError);
      } finally {
        await impatient.close(true);
      }
      // The driver closed that socket while the command waited: it was never run.
      assert.ok(!s.collection(DB, 'slow').some((d) => d._id === 2));
      await assert.rejects(coll.find({}).maxTimeMS(100).toArray(), (err: MongoServerError) => err.code === 50 && err.codeName === 'MaxTimeMSExpired');
      s.faults.reset();
      await coll.insertOne({ _id: 3 });
      assert.deepEqual(s.collection(DB, 'slow').map((d) => d._id), [1, 3]);
    });
  });

  test('failNextWrites gives a write error (121) and applies nothing; the next write succeeds', async () => {
    await withServer(async (s, c) => {
      const coll = col(c, 'val');
      s.faults.failNextWrites(1, { code: 121, errmsg: 'Document failed validation', errInfo: { failingDocumentId: 1 } });
      await assert.rejects(coll.insertOne({ _id: 1 }), (err: MongoServerError) => {
        assert.ok(err instanceof MongoServerError);
        assert.equal(err.code, 121);
        return true;
      });
      assert.equal(s.faults.pending().writeErrors, 0);
      await coll.insertMany([{ _id: 2 }]);
      assert.deepEqual(s.collection(DB, 'val').map((d) => d._id), [2]);
    });
  });

  test('failWritesWhere fails only the matching statements of an unordered bulk write', async () => {
    await withServer(async (s, c) => {
      const coll = col(c, 'pred');
      s.faults.failWritesWhere((w) => (w.command === 'update' && (w.statement.q as Document).group_id === 'bad' ? { code: 121 } : null));
      await assert.rejects(
        coll.bulkWrite(
          ['ok1', 'bad', 'ok2'].map((g) => ({ updateOne: { filter: { group_id: g }, update: { $set: { n: 1 } }, upsert: true } })),
          { ordered: false },
        ),
        (err: MongoBulkWriteError) => {
          assert.ok(err instanceof MongoBulkWriteError);
          assert.equal(err.code, 121);
          assert.equal(err.result.upsertedCount, 2);
          return true;
        },
      );
      assert.deepEqual(s.collection(DB, 'pred').map((d) => d.group_id).sort(), ['ok1', 'ok2']);
      s.faults.failWritesWhere(null);
      await coll.updateOne({ group_id: 'bad' }, { $set: { n: 1 } }, { upsert: true });
      assert.equal(s.collection(DB, 'pred').length, 3);
    });
  });

  test('failNextCommands answers a top-level error (13 Unauthorized) without running the command', async () => {
    await withServer(async (s, c) => {
      const coll = col(c, 'auth');
      s.faults.failNextCommands(1, { code: 13, errmsg: 'not authorized on iot_test' }, ['update']);
      await assert.rejects(coll.updateOne({ _id: 1 }, { $set: { a: 1 } }, { upsert: true }), (err: MongoServerError) => {
        assert.equal(err.code, 13);
        assert.equal(err.codeName, 'Unauthorized');
        return true;
      });
      assert.equal(s.collection(DB, 'auth').length, 0);
      assert.equal(s.stats().injectedCommandErrors, 1);
      await coll.updateOne({ _id: 1 }, { $set: { a: 1 } }, { upsert: true });
      assert.equal(s.collection(DB, 'auth').length, 1);
    });
  });

  test('dropAfterWrite: the write is applied, the driver sees a network error (lost ack), the client recovers', async () => {
    await withServer(async (s, c) => {
      const coll = col(c, 'lost');
      s.faults.dropAfterWrite(1);
      await assert.rejects(coll.insertOne({ _id: 'r1', v: 1 }), MongoNetworkError);
      assert.deepEqual(s.collection(DB, 'lost'), [{ _id: 'r1', v: 1 }]);
      assert.equal(s.stats().droppedAfterWrite, 1);
      // An idempotent retry (upsert by deterministic _id) leaves exactly one document.
      const retry = await coll.replaceOne({ _id: 'r1' }, { v: 1 }, { upsert: true });
      assert.equal(retry.matchedCount, 1);
      assert.equal(await coll.countDocuments(), 1);
    });
  });

  test('a fault set while an operation is in flight applies to it', async () => {
    await withServer(async (s, c) => {
      const coll = col(c, 'flip');
      s.faults.delayMs = 300;
      s.faults.delayFilter = (name) => name === 'update';
      const pending = coll.updateOne({ _id: 'x' }, { $set: { v: 1 } }, { upsert: true });
      s.faults.dropAfterWrite(1); // flipped after the update was sent; checked after the delay
      await assert.rejects(pending, MongoNetworkError);
      s.faults.reset();
      assert.deepEqual(await coll.findOne({ _id: 'x' }), { _id: 'x', v: 1 });
    });
  });

  test('dropBeforeCommand: network error and nothing applied', async () => {
    await withServer(async (s, c) => {
      const coll = col(c, 'before');
      s.faults.dropBeforeCommand(1);
      await assert.rejects(coll.insertOne({ _id: 1 }), MongoNetworkError);
      assert.equal(s.collection(DB, 'before').length, 0);
      await coll.insertOne({ _id: 2 });
      assert.equal(s.collection(DB, 'before').length, 1);
    });
  });

  test('unacknowledged writes (w: 0, moreToCome) are applied without a reply', async () => {
    await withServer(async (s, c) => {
      const coll = col(c, 'w0');
      await coll.insertOne({ _id: 1 }, { writeConcern: { w: 0 } });
      await waitFor(() => s.collection(DB, 'w0').length === 1, 5000, 'w:0 insert');
      assert.deepEqual(await c.db('admin').command({ ping: 1 }), { ok: 1 });
    });
  });
});

describe('wire framing (raw socket)', () => {
  let server: MongoWireServer;
  before(async () => {
    server = new MongoWireServer();
    await server.start();
  });
  after(() => server.stop());

  /** Send bytes, collect one reply (or null when the server closes / says nothing). */
  function exchange(bytes: Buffer, waitForReply = true): Promise<Buffer | null> {
    return new Promise((resolve, reject) => {
      const sock = netConnect(server.port, '127.0.0.1');
      let buf = Buffer.alloc(0);
      sock.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 4 && buf.length >= buf.readInt32LE(0)) {
          sock.destroy();
          resolve(buf);
        }
      });
      sock.on('close', () => resolve(null));
      sock.on('error', reject);
      sock.write(bytes, () => {
        if (!waitForReply) {
          // Follow with a ping on the same socket: its reply proves the first message got none.
          sock.write(opMsg(2, { ping: 1, $db: 'admin' }));
        }
      });
    });
  }

  function header(len: number, id: number, op: number): Buffer {
    const h = Buffer.alloc(16);
    h.writeInt32LE(len, 0);
    h.writeInt32LE(id, 4);
    h.writeInt32LE(0, 8);
    h.writeInt32LE(op, 12);
    return h;
  }

  function opMsg(id: number, body: Document, flags = 0, seq?: { id: string; docs: Document[] }): Buffer {
    const parts: Buffer[] = [Buffer.from([0]), Buffer.from(serialize(body))];
    if (seq) {
      const docs = Buffer.concat(seq.docs.map((d) => Buffer.from(serialize(d))));
      const ident = Buffer.from(`${seq.id}\0`);
      const size = Buffer.alloc(4);
      size.writeInt32LE(4 + ident.length + docs.length);
      parts.push(Buffer.from([1]), size, ident, docs);
    }
    const checksum = flags & 1 ? Buffer.alloc(4) : Buffer.alloc(0);
    const payload = Buffer.concat(parts);
    const flagBuf = Buffer.alloc(4);
    flagBuf.writeUInt32LE(flags);
    const len = 16 + 4 + payload.length + checksum.length;
    return Buffer.concat([header(len, id, 2013), flagBuf, payload, checksum]);
  }

  function replyDoc(reply: Buffer): Document {
    const op = reply.readInt32LE(12);
    if (op === 2013) return deserialize(reply.subarray(21));
    if (op === 1) return deserialize(reply.subarray(36));
    throw new Error(`unexpected opcode ${op}`);
  }

  test('OP_QUERY isMaster on admin.$cmd gets an OP_REPLY', async () => {
    const ns = Buffer.from('admin.$cmd\0');
    const fixed = Buffer.alloc(8);
    fixed.writeInt32LE(0, 0);
    fixed.writeInt32LE(-1, 4);
    const q = Buffer.from(serialize({ isMaster: 1, helloOk: true }));
    const flags = Buffer.alloc(4);
    const len = 16 + 4 + ns.length + 8 + q.length;
    const reply = await exchange(Buffer.concat([header(len, 7, 2004), flags, ns, fixed, q]));
    assert.ok(reply);
    assert.equal(reply.readInt32LE(12), 1);
    assert.equal(reply.readInt32LE(8), 7); // responseTo
    assert.equal(reply.readInt32LE(32), 1); // numberReturned
    const doc = replyDoc(reply);
    assert.equal(doc.ismaster, true);
    assert.equal(doc.helloOk, true);
    assert.equal(doc.maxWireVersion, 21);
  });

  test('OP_MSG with a kind-1 document sequence and a checksum trailer', async () => {
    const reply = await exchange(opMsg(9, { insert: 'seq', $db: 'raw', ordered: true }, 1, { id: 'documents', docs: [{ _id: 1 }, { _id: 2 }] }));
    assert.ok(reply);
    assert.equal(reply.readInt32LE(12), 2013);
    assert.equal(reply.readInt32LE(8), 9);
    assert.deepEqual(replyDoc(reply), { n: 2, ok: 1 });
    assert.equal(server.collection('raw', 'seq').length, 2);
  });

  test('OP_MSG with moreToCome gets no reply but is applied', async () => {
    const reply = await exchange(opMsg(11, { insert: 'quiet', $db: 'raw' }, 2, { id: 'documents', docs: [{ _id: 'q' }] }), false);
    assert.ok(reply);
    assert.equal(reply.readInt32LE(8), 2); // the reply answers the ping, not the write
    assert.deepEqual(replyDoc(reply), { ok: 1 });
    assert.deepEqual(server.collection('raw', 'quiet'), [{ _id: 'q' }]);
  });

  test('an unsupported opcode closes the connection', async () => {
    const reply = await exchange(Buffer.concat([header(20, 1, 2012), Buffer.alloc(4)]));
    assert.equal(reply, null);
  });
});

describe('standalone server and helper', () => {
  for (const portArg of ['0', 'free']) {
    test(`the CLI prints "ready mongodb://127.0.0.1:N" (--port ${portArg}) and serves until SIGTERM`, async () => {
      const port = portArg === 'free' ? await freePort() : 0;
      const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/mongo-server.ts', '--port', String(port)], {
        cwd: new URL('..', import.meta.url).pathname,
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      try {
        const lines = createInterface({ input: child.stdout! });
        const first = await new Promise<string>((resolve, reject) => {
          lines.once('line', resolve);
          child.once('exit', (code) => reject(new Error(`exited early with ${code}`)));
        });
        const m = /^ready (mongodb:\/\/127\.0\.0\.1:(\d+))$/.exec(first);
        assert.ok(m, first);
        if (port) assert.equal(Number(m[2]), port);
        const c = client(m[1]);
        assert.deepEqual(await c.db('admin').command({ ping: 1 }), { ok: 1 });
        await c.close();
        const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
        child.kill('SIGTERM');
        assert.equal(await exited, 0);
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    });
  }

  test('startMongoForTests starts a wire server when MONGODB_URI is not set', { skip: !!process.env.MONGODB_URI }, async () => {
    const m = await startMongoForTests();
    try {
      assert.ok(m.server instanceof MongoWireServer);
      assert.equal(m.uri, m.server.uri);
      const c = client(m.uri);
      assert.deepEqual(await c.db('admin').command({ ping: 1 }), { ok: 1 });
      await c.close();
    } finally {
      await m.stop();
    }
  });
});
