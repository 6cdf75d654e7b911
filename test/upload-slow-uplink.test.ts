import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { MongoWireServer, ThrottledLink } from './support/mongo-server.ts';
import { HOUR, atlasContents, makeReadings, openHarness } from './support/upload-driver.ts';

// A slow site uplink (issue 21, item 6): a part that takes longer to reach Atlas than the socket
// timeout allows never got through, and every retry met the same limit. Through a
// bandwidth-limited proxy in front of the wire server, with the timeout scaled down with the
// rate (48 KB/s and 1 s here, for ~125 KB/s and 60 s at a site), the uploader measures the
// uplink, gives its writes the time they need, and cuts new windows into smaller parts.

let server: MongoWireServer;
let link: ThrottledLink;
before(async () => {
  server = new MongoWireServer();
  await server.start();
  link = new ThrottledLink({ port: server.port, bytesPerSecond: 48 * 1024 });
  await link.start();
});
after(async () => {
  await link.stop();
  await server.stop();
});

test('parts larger than the uplink carries within the socket timeout still get to Atlas, and new windows are cut to fit', { skip: !!process.env.MONGODB_URI && 'needs the wire server behind the proxy', timeout: 180_000 }, async (t) => {
  const database = `iotgw_uplink_${process.pid}`;
  const h = await openHarness({ mongoUri: link.uri, database, overrides: { 'mongodb.socket_timeout_ms': 1000, 'upload.part_max_bytes': 128 * 1024, 'mongodb.server_selection_timeout_ms': 5000, 'mongodb.connect_timeout_ms': 5000 } });
  try {
    const w1 = Math.floor(Date.now() / HOUR) * HOUR - 3 * HOUR;
    // ~300 KB of readings: three parts of up to 128 KB, each a few seconds at this rate.
    await h.buffer.append(makeReadings(1200, { start: w1 + 1000, stepMs: 2000, tag: 'slow', groups: 1, devices: 8 }).map((r) => ({ ...r, doc: { ...r.doc, note: 'x'.repeat(100) } })));
    const first = await h.uploader.runOnce();
    assert.equal(first.error?.kind, 'transient', 'the first write outlasts the 1 s socket timeout');
    t.diagnostic(`first pass: ${first.error?.reason}`);
    let passes = 1;
    let report = first;
    while (report.error && passes < 6) {
      report = await h.uploader.runOnce();
      passes++;
    }
    const status = h.uploader.status();
    t.diagnostic(`${passes} passes; measured ${Math.round((status.uplink.bytes_per_second ?? 0) / 1024)} KB/s, socket timeout ${status.uplink.socket_timeout_ms} ms, parts of new windows ${status.uplink.part_bytes} bytes`);
    assert.equal(report.error, null, `the window went up within ${passes} passes: ${report.error?.reason}`);
    const { rids } = await atlasContents(server.uri, database);
    assert.equal(rids.length, 1200);
    assert.equal(new Set(rids).size, 1200);
    assert.ok(status.uplink.bytes_per_second! > 0 && status.uplink.bytes_per_second! < 200 * 1024, 'the uplink was measured');
    assert.ok(status.uplink.socket_timeout_ms > 1000, 'the socket timeout grew past the configured one');
    assert.ok(status.uplink.part_bytes < 128 * 1024, 'new windows get smaller parts');
    assert.ok(h.lines.some((l) => /reconnecting to Atlas with the socket timeout/.test(l.msg ?? '')));

    // A new window is cut with the smaller size and goes up in one pass.
    await h.buffer.append(makeReadings(600, { start: w1 + HOUR + 1000, stepMs: 2000, tag: 'next', groups: 1, devices: 8 }).map((r) => ({ ...r, doc: { ...r.doc, note: 'x'.repeat(100) } })));
    const next = await h.uploader.runOnce();
    assert.equal(next.error, null, next.error?.reason);
    assert.ok(next.windows[0].parts >= 4, `${next.windows[0].parts} parts`);
    assert.equal((await atlasContents(server.uri, database)).rids.length, 1800);
  } finally {
    await h.cleanup();
  }
});
