import { test } from 'node:test';
import assert from 'node:assert/strict';
import { atlasContents, makeReadings } from './support/upload-driver.ts';
import { hourAgo, uploadSuite } from './support/upload-suite.ts';

// Atlas is a replica set: the driver sends single-document writes as retryable writes and, after
// a network error, sends the same command again with the same txnNumber once; the primary
// answers it with the first execution's outcome (issue 21, item 6). The lost ack that the
// uploader has to replay against a standalone (upload-atlas.test.ts) is absorbed here by the
// driver, as it is against Atlas.

const suite = uploadSuite('rs', { replicaSet: 'rs-iotgw' });
const skip = !!process.env.MONGODB_URI && 'needs the wire server (faults)';
const withHarness = suite.withHarness;

test('a lost ack (write applied, connection dropped): the driver retries, the pass goes through, each reading once', { skip }, () => withHarness(async (h, db) => {
  await h.buffer.append(makeReadings(300, { start: hourAgo(2) + 1000, stepMs: 5000, tag: 'rs', groups: 3, devices: 9 }));
  suite.mongo.server!.faults.dropAfterWrite(1);
  const report = await h.uploader.runOnce();
  assert.equal(report.error, null, 'no error reaches the uploader');
  assert.equal(suite.mongo.server!.stats().droppedAfterWrite, 1);
  assert.ok(suite.mongo.server!.stats().retriedWritesReplayed >= 1, 'the retry was answered from the first execution');
  const { parts, rids } = await atlasContents(suite.mongo.uri, db);
  assert.equal(parts.length, 3);
  assert.equal(rids.length, 300);
  assert.equal(new Set(rids).size, 300);
  assert.deepEqual(await h.buffer.listWindows(), []);
  assert.doesNotMatch(await h.metrics.registry.getSingleMetricAsString('iotgw_upload_errors_total'), /kind="transient"/);
}));

test('a retryable write-concern error (primary stepping down) is retried by the driver; the window goes up in one pass', { skip }, () => withHarness(async (h, db) => {
  await h.buffer.append(makeReadings(40, { start: hourAgo(2) + 1000, tag: 'rs91' }));
  suite.mongo.server!.faults.writeConcernErrors(1, { code: 189, errmsg: 'primary stepped down while waiting for replication' });
  const report = await h.uploader.runOnce();
  assert.equal(report.error, null);
  assert.equal(suite.mongo.server!.stats().writeConcernErrors, 1);
  assert.equal((await atlasContents(suite.mongo.uri, db)).rids.length, 40);
}));
