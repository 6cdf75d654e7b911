import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { atlasContents, captureLog, makeReadings, openHarness, type Harness } from './support/upload-driver.ts';
import { hourAgo, uploadSuite } from './support/upload-suite.ts';
import { runUploadNow } from '../gateway/upload/upload-now.ts';

// A part Atlas refuses does not hold back the others (issue 21, item 4): it moves to the
// quarantine with its reason, is counted, shows in the status, and goes up with
// `iotgw upload --retry-quarantine` once the cause is fixed.

const suite = uploadSuite('quarantine');
const skip = !!process.env.MONGODB_URI && 'needs the wire server (refusals)';
const { freshDb } = suite;
const metric = async (h: Harness, name: string): Promise<string> => h.metrics.registry.getSingleMetricAsString(name);

/** Atlas's validation rule refuses grp-1's part of hour `hour`. */
const refuseGroup1 = (hour: number) => (s: { collection: string; statement: { q?: { _id?: unknown }; u?: { hour?: Date } } }) =>
  s.collection === 'group_hours' && String(s.statement.q?._id).includes(':grp-1:') && s.statement.u?.hour?.getTime() === hour ? { code: 121, errmsg: 'Document failed validation' } : null;

function sink(): { out: Writable; text: () => string } {
  let text = '';
  return { out: new Writable({ write(c, _e, cb) { text += c; cb(); } }), text: () => text };
}

test('a refused part is quarantined with its reason, its window commits, and it goes up after the fix', { skip }, async () => {
  const db = freshDb();
  let h = await openHarness({ mongoUri: suite.mongo.uri, database: db });
  try {
    const w1 = hourAgo(3);
    const w2 = hourAgo(2);
    await h.buffer.append(makeReadings(20, { start: w1 + 1000, tag: 'p', groups: 2 }));
    await h.buffer.append(makeReadings(20, { start: w2 + 1000, tag: 'q', groups: 2 }));
    suite.mongo.server!.faults.failWritesWhere(refuseGroup1(w1));
    const report = await h.uploader.runOnce();
    assert.equal(report.error, null, 'not an outage');
    assert.equal(report.ok, false, 'something was refused');
    const [r1, r2] = report.windows;
    assert.deepEqual([r1.result, r1.quarantined, r1.deleted], ['uploaded', { parts: 1, readings: 10 }, 20]);
    assert.match(r1.error!, /DocumentValidationFailure \(121\)/);
    assert.deepEqual(r1.groups.map((g) => [g.group_id, g.refused]), [['grp-0', 0], ['grp-1', 1]]);
    assert.equal(r2.result, 'uploaded');
    // Nothing holds the window back: both are gone locally; the refused readings wait in the quarantine.
    assert.deepEqual(await h.buffer.listWindows(), []);
    assert.deepEqual(h.uploader.status().quarantine, { parts: 1, readings: 10 });
    assert.match(await metric(h, 'iotgw_upload_quarantine_parts'), / 1$/m);
    assert.match(await metric(h, 'iotgw_upload_quarantine_readings'), / 10$/m);
    assert.match(await metric(h, 'iotgw_upload_quarantined_parts_total'), / 1$/m);
    assert.match(await metric(h, 'iotgw_upload_errors_total'), /kind="permanent"} 1/);
    assert.equal(h.lines.filter((l) => /refused a group_hours part/.test(l.msg ?? '')).length, 1, 'one clear log line');
    assert.equal((await atlasContents(suite.mongo.uri, db)).parts.length, 3, 'grp-0 of w1 and both groups of w2');

    // Still refused: it stays, with the reason of this attempt.
    suite.mongo.server!.faults.failWritesWhere(() => ({ code: 121, errmsg: 'Document failed validation (rule v2)' }));
    const again = await h.uploader.retryQuarantine();
    assert.equal(again.ok, false);
    assert.equal(again.error, null);
    assert.deepEqual(again.parts.map((p) => [p.result, p.reason]), [['refused', 'DocumentValidationFailure (121): Document failed validation (rule v2)']]);
    assert.deepEqual(again.remaining, { parts: 1, readings: 10 });

    // The quarantine is in the buffer's SQLite file: a restart keeps it.
    h = await h.reopen();
    await h.uploader.refreshQueue();
    assert.deepEqual(h.uploader.status().quarantine, { parts: 1, readings: 10 });
    suite.mongo.server!.faults.failWritesWhere(null);
    const retry = await h.uploader.retryQuarantine();
    assert.equal(retry.ok, true);
    assert.deepEqual([retry.uploaded, retry.remaining], [{ parts: 1, readings: 10 }, { parts: 0, readings: 0 }]);
    assert.deepEqual(h.uploader.status().quarantine, { parts: 0, readings: 0 });
    const all = await atlasContents(suite.mongo.uri, db);
    assert.equal(all.parts.length, 4);
    assert.equal(all.rids.length, 40);
    assert.equal(new Set(all.rids).size, 40);
    // device_groups has grp-1's devices with their newest readings (w2's).
    assert.deepEqual(all.groups.map((g) => g.group_id), ['grp-0', 'grp-1']);
    assert.ok(all.groups[1].devices.every((d: { timestamp: string }) => Date.parse(d.timestamp) >= w2));
  } finally {
    suite.mongo.server?.faults.reset();
    await h.cleanup();
  }
});

test('a part quarantined by an attempt that then failed is taken back out when the replay gets it through', { skip }, async () => {
  const db = freshDb();
  const h = await openHarness({ mongoUri: suite.mongo.uri, database: db });
  try {
    const w = hourAgo(2);
    await h.buffer.append(makeReadings(20, { start: w + 1000, tag: 'r', groups: 2 }));
    // grp-1 is refused, then the device_groups write fails (an election): the window is not committed.
    suite.mongo.server!.faults.failWritesWhere(refuseGroup1(w));
    let electionLeft = 1;
    suite.mongo.server!.faults.failCommandsWhere((name, body) => (name === 'update' && body.update === 'device_groups' && electionLeft-- > 0 ? { code: 189, errmsg: 'primary stepped down' } : null));
    const first = await h.uploader.runOnce();
    assert.equal(first.error?.kind, 'transient');
    assert.deepEqual(h.uploader.status().quarantine, { parts: 1, readings: 10 });
    assert.equal((await h.buffer.listWindows()).length, 1, 'not committed: still local');
    // Fixed before the replay: the part goes up with the window and leaves the quarantine.
    suite.mongo.server!.faults.reset();
    const second = await h.uploader.runOnce();
    assert.equal(second.error, null);
    assert.deepEqual(second.windows[0].quarantined, { parts: 0, readings: 0 });
    assert.deepEqual(h.uploader.status().quarantine, { parts: 0, readings: 0 });
    const { rids } = await atlasContents(suite.mongo.uri, db);
    assert.equal(rids.length, 20);
    assert.equal(new Set(rids).size, 20);
  } finally {
    suite.mongo.server?.faults.reset();
    await h.cleanup();
  }
});

test('iotgw upload --now reports the quarantined part (exit 1); --retry-quarantine sends it (exit 0)', { skip }, async () => {
  const db = freshDb();
  const h = await openHarness({ mongoUri: suite.mongo.uri, database: db });
  const w = hourAgo(2);
  await h.buffer.append(makeReadings(12, { start: w + 1000, tag: 'cli', groups: 2 }));
  await h.close();
  const { log } = captureLog('silent');
  try {
    suite.mongo.server!.faults.failWritesWhere(refuseGroup1(w));
    let s = sink();
    assert.equal(await runUploadNow(h.config, log, s.out, { now: true, retryQuarantine: false }), 1, s.text());
    assert.match(s.text(), /1 part \(6 readings\) REFUSED and quarantined: DocumentValidationFailure \(121\)/);
    assert.match(s.text(), /quarantined \(refused by Atlas\): 1 parts, 6 readings; after fixing the cause: iotgw upload --retry-quarantine/);
    assert.match(s.text(), /still queued: 0 closed windows/);
    suite.mongo.server!.faults.failWritesWhere(null);
    s = sink();
    assert.equal(await runUploadNow(h.config, log, s.out, { now: false, retryQuarantine: true }), 0, s.text());
    assert.match(s.text(), new RegExp(`part gw-test:grp-1:${new Date(w).toISOString().slice(0, 19)}Z:sqlite:\\d+ \\(group grp-1, hour ${new Date(w).toISOString()}\\): 6 readings uploaded`));
    assert.match(s.text(), /retried 1 parts: 1 uploaded \(6 readings\); still quarantined: 0 parts, 0 readings/);
    s = sink();
    assert.equal(await runUploadNow(h.config, log, s.out, { now: false, retryQuarantine: true }), 0);
    assert.match(s.text(), /the quarantine is empty/);
    assert.equal((await atlasContents(suite.mongo.uri, db)).rids.length, 12);
  } finally {
    suite.mongo.server?.faults.reset();
    await h.cleanup();
  }
});
