// The wire test server (test/support/mongo-server.ts), continued: what Atlas does that a bare
// standalone did not show: replica-set mode with retryable writes, write-concern errors, index
// builds that take their time, updates and index specs mongod refuses, int64 round trips, a slow
// site uplink, and index use for the uploader's duplicate check. Each behaviour through the real
// driver. (test/mongo-server.test.ts has the basics.)
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Long, MongoBulkWriteError, MongoNetworkError, MongoNetworkTimeoutError, MongoServerError, MongoWriteConcernError, type Document } from 'mongodb';
import { MongoWireServer, ThrottledLink } from './support/mongo-server.ts';
import { client, col, DB, withServer } from './support/mongo-client.ts';

describe('replica-set mode', () => {
  test('hello names the set and its primary; the URI carries replicaSet', async () => {
    await withServer(async (s, c) => {
      assert.match(s.uri, /\/\?replicaSet=rs0$/);
      const hello = await c.db('admin').command({ hello: 1 });
      assert.equal(hello.setName, 'rs0');
      assert.deepEqual(hello.hosts, [`127.0.0.1:${s.port}`]);
      assert.equal(hello.primary, `127.0.0.1:${s.port}`);
      assert.equal(hello.isWritablePrimary, true);
    }, { replicaSet: 'rs0' });
  });

  test('a lost ack is absorbed: the driver retries with the same txnNumber and gets the first outcome', async () => {
    await withServer(async (s, c) => {
      const coll = col(c, 'retry');
      s.faults.dropAfterWrite(1);
      const res = await coll.bulkWrite([1, 2, 3].map((i) => ({ replaceOne: { filter: { _id: i }, replacement: { v: i }, upsert: true } })), { ordered: false, writeConcern: { w: 'majority' } });
      assert.equal(res.upsertedCount, 3, 'the reply of the first execution');
      assert.equal(s.stats().droppedAfterWrite, 1);
      assert.equal(s.stats().retriedWritesReplayed, 1);
      assert.deepEqual(s.collection(DB, 'retry').map((d) => d._id), [1, 2, 3]);
      // A standalone cannot do this: the driver sends no txnNumber and the error reaches the caller.
      await withServer(async (s2, c2) => {
        s2.faults.dropAfterWrite(1);
        await assert.rejects(col(c2, 'retry').insertOne({ _id: 1 }), MongoNetworkError);
        assert.equal(s2.stats().retriedWritesReplayed, 0);
      });
    }, { replicaSet: 'rs0' });
  });

  test('a transaction number older than the session\'s latest is refused (225)', async () => {
    await withServer(async (s) => {
      const lsid = { id: new (await import('mongodb')).UUID() };
      const run = (txnNumber: number, v: number) => s.runCommand(DB, { insert: 'old', documents: [{ v }], lsid, txnNumber: Long.fromNumber(txnNumber) });
      assert.equal(run(5, 1).ok, 1);
      assert.deepEqual(run(5, 2), run(5, 3), 'a repeat is answered from memory');
      assert.equal(s.collection(DB, 'old').length, 1);
      const stale = run(4, 4);
      assert.equal(stale.ok, 0);
      assert.equal(stale.code, 225);
      assert.equal(stale.codeName, 'TransactionTooOld');
    }, { replicaSet: 'rs0' });
  });
});

describe('write concern errors', () => {
  test('a bulk write applied but not majority-acknowledged: MongoBulkWriteError with the write-concern error in its result', async () => {
    await withServer(async (s, c) => {
      const coll = col(c, 'wce');
      s.faults.writeConcernErrors(1);
      await assert.rejects(coll.bulkWrite([{ replaceOne: { filter: { _id: 1 }, replacement: { v: 1 }, upsert: true } }], { ordered: false, writeConcern: { w: 'majority' } }), (err: MongoBulkWriteError) => {
        // What driver 7.9 really raises: the code on the error, no writeErrors, the details only
        // in err.result (err.err and err.writeConcernError are not set).
        assert.ok(err instanceof MongoBulkWriteError);
        assert.equal(err.code, 64);
        assert.deepEqual(err.writeErrors, []);
        assert.equal(err.result.getWriteConcernError()?.code, 64);
        assert.equal((err as unknown as { writeConcernError?: unknown }).writeConcernError, undefined);
        return true;
      });
      assert.equal(s.collection(DB, 'wce').length, 1, 'the write was applied');
      assert.equal(s.stats().writeConcernErrors, 1);
      s.faults.writeConcernErrors(1, { code: 100, errmsg: 'Not enough data-bearing nodes' });
      await assert.rejects(coll.updateOne({ _id: 2 }, { $set: { v: 2 } }, { upsert: true }), (err: MongoWriteConcernError) => err instanceof MongoWriteConcernError && err.code === 100);
      assert.equal(s.collection(DB, 'wce').length, 2);
    });
  });

  test('replica set: a retryable write-concern error (91) is retried by the driver and succeeds', async () => {
    await withServer(async (s, c) => {
      s.faults.writeConcernErrors(1, { code: 91, errmsg: 'The server is in quiesce mode and will shut down' });
      const res = await col(c, 'wce91').updateOne({ _id: 1 }, { $set: { v: 1 } }, { upsert: true });
      assert.equal(res.upsertedCount, 1);
      assert.equal(s.stats().writeConcernErrors, 1);
      assert.equal(s.stats().retriedWritesReplayed, 1);
    }, { replicaSet: 'rs0' });
  });
});

describe('what mongod refuses', () => {
  test('$set and $setOnInsert on one path, or a path inside another, is 40 ConflictingUpdateOperators', async () => {
    await withServer(async (s, c) => {
      const coll = col(c, 'conflict');
      const upsert = (u: Document) => coll.updateOne({ _id: 1 }, u, { upsert: true });
      await assert.rejects(upsert({ $set: { at: 1 }, $setOnInsert: { at: 2 } }), (err: MongoServerError) => err.code === 40 && /would create a conflict at 'at'/.test(err.message));
      await assert.rejects(upsert({ $set: { a: 1 }, $inc: { 'a.b': 1 } }), (err: MongoServerError) => err.code === 40);
      assert.equal(s.collection(DB, 'conflict').length, 0, 'nothing applied');
      await upsert({ $set: { a: 1, 'a-b': 2 }, $setOnInsert: { created: 3 } });
      assert.deepEqual(s.collection(DB, 'conflict'), [{ _id: 1, a: 1, 'a-b': 2, created: 3 }]);
    });
  });

  test('createIndexes creates all or none: a name conflict (86) leaves the other indexes uncreated', async () => {
    await withServer(async (_s, c) => {
      const coll = col(c, 'idx86');
      await coll.createIndex({ a: 1 }, { name: 'taken' });
      await assert.rejects(coll.createIndexes([{ key: { b: 1 }, name: 'b_1' }, { key: { c: 1 }, name: 'taken' }]), (err: MongoServerError) => err.code === 86 && err.codeName === 'IndexKeySpecsConflict');
      assert.deepEqual((await coll.indexes()).map((i) => i.name), ['_id_', 'taken']);
      // A unique build over duplicates (11000) also creates none of the batch.
      await coll.insertMany([{ k: 1 }, { k: 1 }]);
      await assert.rejects(coll.createIndexes([{ key: { b: 1 }, name: 'b_1' }, { key: { k: 1 }, name: 'k_1', unique: true }]), (err: MongoServerError) => err.code === 11000 && /Index build failed/.test(err.message));
      assert.deepEqual((await coll.indexes()).map((i) => i.name), ['_id_', 'taken']);
    });
  });
});

describe('expressions', () => {
  test('$max/$min of several values ignore missing and null, as in an upsert that creates the document', async () => {
    await withServer(async (s, c) => {
      const at = new Date('2026-11-23T18:00:00Z');
      await col(c, 'exprs').updateOne({ _id: 1 }, [{ $set: { hi: { $max: ['$nope', at] }, lo: { $min: [null, '$nope', 3] }, none: { $max: ['$nope', null] } } }], { upsert: true });
      assert.deepEqual(s.collection(DB, 'exprs'), [{ _id: 1, hi: at, lo: 3, none: null }]);
    });
  });
});

describe('int64', () => {
  test('int64 values come back as int64, and queries and sorts compare them as numbers', async () => {
    await withServer(async (_s, c) => {
      const coll = col(c, 'longs');
      await coll.insertMany([
        { _id: 1, ts: Long.fromNumber(1_748_772_000_123), n: Long.fromNumber(7), nested: { seq: Long.fromNumber(3) } },
        { _id: 2, ts: Long.fromNumber(1_748_772_000_100), n: 5, nested: { seq: Long.fromNumber(9) } },
      ]);
      const raw = client(c.options.hosts.map((h) => `mongodb://${h.toString()}`)[0], { promoteLongs: false });
      try {
        const back = await col(raw, 'longs').findOne({ _id: 1 });
        assert.ok(back?.ts instanceof Long && back.ts.toNumber() === 1_748_772_000_123, 'int64 stays int64');
        assert.ok(back.n instanceof Long && back.nested.seq instanceof Long);
        const big = await col(raw, 'longs').findOne({ _id: 2 });
        assert.equal(typeof big?.n, 'number', 'an int32 stays an int32');
        // Updates leave the fields they do not touch as they were.
        await coll.updateOne({ _id: 1 }, { $set: { other: 1 } });
        await coll.updateOne({ _id: 1 }, [{ $set: { more: { $add: [1, 1] } } }]);
        const after = await col(raw, 'longs').findOne({ _id: 1 });
        assert.ok(after?.ts instanceof Long && after.nested.seq instanceof Long);
      } finally {
        await raw.close();
      }
      assert.deepEqual((await coll.find({ ts: { $gt: 1_748_772_000_110 } }).toArray()).map((d) => d._id), [1]);
      assert.deepEqual((await coll.find({ 'nested.seq': { $gte: 3 } }).sort({ ts: 1 }).toArray()).map((d) => d._id), [2, 1]);
      assert.equal(await coll.countDocuments({ n: 7 }), 1);
    });
  });
});

describe('the time things take', () => {
  test('a held createIndexes waits unanswered while other commands go on, until released', async () => {
    await withServer(async (s, c) => {
      const release = s.faults.hold(['createIndexes']);
      let built = false;
      const build = col(c, 'held').createIndex({ a: 1 }).then(() => { built = true; });
      // Another connection's writes are not held up by it.
      const other = client(s.uri);
      try {
        await col(other, 'held').insertOne({ _id: 1, a: 1 });
        assert.equal(built, false);
        assert.deepEqual(s.faults.pending().held, ['createIndexes']);
        release();
        await build;
        assert.deepEqual((await col(other, 'held').indexes()).map((i) => i.name), ['_id_', 'a_1']);
      } finally {
        await other.close();
      }
    });
  });

  test('through a slow uplink, a write that outlasts the socket timeout fails, and one given the time goes through', async () => {
    const s = new MongoWireServer();
    await s.start();
    const link = new ThrottledLink({ port: s.port, bytesPerSecond: 128 * 1024 });
    await link.start();
    // Driver 7.9 ignores a per-operation timeoutMS (its CSOT is a no-op); the client's socket
    // timeout (inactivity while the request drains and the reply is awaited) is the limit.
    const impatient = client(link.uri, { socketTimeoutMS: 500 });
    const patient = client(link.uri, { socketTimeoutMS: 120_000 });
    try {
      const doc = (id: number) => ({ _id: id, pad: 'x'.repeat(512 * 1024) });
      // ~4 s at this rate: far past 500 ms.
      await assert.rejects(col(impatient, 'slow').insertOne(doc(1)), MongoNetworkTimeoutError);
      await col(patient, 'slow').insertOne(doc(2));
      assert.ok(s.collection(DB, 'slow').some((d) => d._id === 2));
      assert.ok(link.bytesUp > 512 * 1024, `${link.bytesUp} bytes through the link`);
    } finally {
      await impatient.close(true);
      await patient.close(true);
      await link.stop();
      await s.stop();
    }
  });
});

describe('index use for the duplicate check', () => {
  test('$or of $elemMatch {k, hi: {$gte}} answers the same with the index as by a scan, across writes', async () => {
    await withServer(async (_s, c) => {
      const indexed = col(c, 'with_index');
      const plain = col(c, 'without_index');
      await indexed.createIndex({ 'rid_ranges.k': 1, 'rid_ranges.hi': 1 });
      const docs = Array.from({ length: 60 }, (_, i) => ({
        _id: `p${i}`, gateway_id: i % 3 === 0 ? 'other' : 'gw',
        rid_ranges: [{ k: `dev:d${i % 5}/b`, lo: i * 10, hi: i * 10 + 9 }, { k: `rcv:s${i}`, lo: 0, hi: 2 }],
      }));
      await indexed.insertMany(docs);
      await plain.insertMany(docs);
      const filter = (keys: [string, number][]) => ({ gateway_id: 'gw', _id: { $nin: ['p1'] }, $or: keys.map(([k, lo]) => ({ rid_ranges: { $elemMatch: { k, hi: { $gte: lo }, lo: { $lte: lo + 25 } } } })) });
      const same = async (keys: [string, number][]) => {
        const a = (await indexed.find(filter(keys)).toArray()).map((d) => d._id);
        const b = (await plain.find(filter(keys)).toArray()).map((d) => d._id);
        assert.deepEqual(a, b);
        return a;
      };
      assert.deepEqual(await same([['dev:d1/b', 160], ['rcv:s7', 0]]), ['p7', 'p16']);
      assert.deepEqual(await same([['dev:d2/b', 10_000]]), []);
      for (const coll of [indexed, plain]) {
        await coll.replaceOne({ _id: 'p16' }, { gateway_id: 'gw', rid_ranges: [{ k: 'dev:d1/b', lo: 5000, hi: 5001 }] });
        await coll.deleteOne({ _id: 'p7' });
      }
      assert.deepEqual(await same([['dev:d1/b', 160], ['rcv:s7', 0]]), []);
      assert.deepEqual(await same([['dev:d1/b', 4990]]), ['p16']);
    });
  });
});
