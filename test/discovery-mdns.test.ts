/**
 * Discovery over real multicast between two network namespaces joined by a veth pair: the gateway
 * (Discovery + Inventory, test/support/discovery-fixture.ts) in one, an independent dns-packet
 * peer (test/support/mdns-peer.ts) in the other, acting as a DNS-SD querier and as a simulated
 * ESP32. Nothing here sends a packet outside the namespaces it creates.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Netns, expectDegradedOnceThenStop, netnsProbe, type JsonLinesChild } from './support/netns.ts';
import { sleep, tempDir, waitFor } from './support/ports.ts';

const probe = netnsProbe();
const skip = probe.ok ? false : `needs network namespaces: ${probe.reason}`;
const FIXTURE = join(import.meta.dirname, 'support/discovery-fixture.ts');
const PEER = join(import.meta.dirname, 'support/mdns-peer.ts');
const GW = '10.77.0.1';
const DEV = '10.77.0.2';

interface Simple { name: string; type: string; ttl: number; flush: boolean; data: any }
interface Seen { at: number; from: string; kind: string; questions: { name: string; type: string }[]; records: Simple[] }
interface Device { device_id: string; state: string; firmware: { version: string | null }; mac: string | null; group_id: string | null; addresses: string[]; last_announcement: string | null; last_reading: string | null }

after(() => Netns.destroyAll());

describe('mDNS between two namespaces (bonjour backend)', { skip }, () => {
  let gwNs: Netns;
  let devNs: Netns;
  let peer: JsonLinesChild;
  let other: JsonLinesChild;
  let gw: JsonLinesChild;
  let port: number;
  let gwIf: string;
  const dir = tempDir('iotgw-disc-');
  const devices = async (): Promise<Device[]> => ((await peer.request<{ body: Device[] }>('http', { url: `http://${GW}:${port}/devices` })).body);
  const device = async (id: string) => (await devices()).find((d) => d.device_id === id);
  const packets = (since = 0, from = GW) => peer.request<Seen[]>('packets', { from, since });

  before(async () => {
    gwNs = Netns.create();
    devNs = Netns.create();
    gwIf = Netns.link(gwNs, GW, devNs, DEV).aIf;
    peer = devNs.node(PEER);
    await peer.waitEvent('ready');
    // another responder already bound to 5353 on the gateway's host (as avahi-daemon is on a Pi)
    other = gwNs.node(PEER);
    await other.waitEvent('ready');
    await other.request('host', { name: 'otherhost.local', address: GW });
    gw = gwNs.node(FIXTURE, {
      IOTGW_FIXTURE_DB: join(dir.path, 'buffer.db'),
      IOTGW_FIXTURE_MQTT_PORT: '1883',
      IOTGW_FIXTURE_OVERRIDES: JSON.stringify({
        gateway_id: 'gw-test', 'discovery.host_name': 'iotgw-test', 'ingest.auth.mode': 'keys', 'ingest.auth.shared_key': 'k',
        'discovery.expected_interval_seconds': 1, 'discovery.stale_after_seconds': 1, 'discovery.offline_after_seconds': 6,
      }),
    });
    port = Number((await gw.waitEvent('ready')).port);
  });

  after(async () => {
    for (const c of [gw, peer, other]) await c?.kill().catch(() => {});
    dir.cleanup();
  });

  test('starts without a warning where multicast works', () => {
    assert.deepEqual(gw.warnings.map((l) => l.msg), []);
  });

  test('an independent querier resolves PTR → SRV/TXT → A with the right values', async () => {
    const since = Date.now();
    await peer.request('query', { name: '_iotgw._tcp.local', type: 'PTR' });
    const answer = await waitFor(async () => (await packets(since)).find((p) => p.kind === 'response' && p.records.some((r) => r.type === 'PTR' && r.name === '_iotgw._tcp.local' && r.ttl > 0)), 15000, 'an answer to the PTR query');
    const instance = 'iotgw gw-test._iotgw._tcp.local';
    const rec = (type: string, name: string) => answer.records.find((r) => r.type === type && r.name.toLowerCase() === name.toLowerCase());
    assert.equal(rec('PTR', '_iotgw._tcp.local')?.data, instance);
    const srv = rec('SRV', instance);
    assert.ok(srv, 'SRV in the answer');
    assert.equal(srv.data.port, port);
    assert.equal(srv.data.target, 'iotgw-test.local');
    const txt = rec('TXT', instance);
    assert.ok(txt, 'TXT in the answer');
    assert.deepEqual([...txt.data].sort(), ['auth=1', 'id=gw-test', 'path=/telemetry', 'v=0.1.0-test', 'ws=/ws']);
    assert.equal(rec('A', 'iotgw-test.local')?.data, GW, 'A record of the SRV target = the namespace address');
  });

  test('with the MQTT broker on, _mqtt._tcp is advertised with its port, the telemetry topic and whether a key is needed', async () => {
    const since = Date.now();
    await peer.request('query', { name: '_mqtt._tcp.local', type: 'PTR' });
    const instance = 'iotgw gw-test._mqtt._tcp.local';
    const answer = await waitFor(async () => (await packets(since)).find((p) => p.kind === 'response' && p.records.some((r) => r.type === 'PTR' && r.name === '_mqtt._tcp.local' && r.ttl > 0)), 15000, 'an answer to the _mqtt._tcp PTR query');
    const rec = (type: string, name: string) => answer.records.find((r) => r.type === type && r.name.toLowerCase() === name.toLowerCase());
    assert.equal(rec('PTR', '_mqtt._tcp.local')?.data, instance);
    const srv = rec('SRV', instance);
    assert.equal(srv?.data.port, 1883);
    assert.equal(srv?.data.target, 'iotgw-test.local');
    assert.deepEqual([...rec('TXT', instance)!.data].sort(), ['auth=1', 'id=gw-test', 'topic=iotgw/{group_id}/{device_id}/telemetry']);
  });

  test('the host name is answered on its own (A query for <host_name>.local)', async () => {
    const since = Date.now();
    await peer.request('query', { name: 'iotgw-test.local', type: 'A' });
    const a = await waitFor(async () => (await packets(since)).flatMap((p) => p.records).find((r) => r.type === 'A' && r.name === 'iotgw-test.local'), 15000, 'A answer');
    assert.equal(a.data, GW);
    assert.ok(a.ttl > 0);
  });

  test('a second responder on the gateway host keeps working beside the gateway (shared port 5353)', async () => {
    const since = Date.now();
    await peer.request('query', { name: 'otherhost.local', type: 'A' });
    const a = await waitFor(async () => (await packets(since)).flatMap((p) => p.records).find((r) => r.type === 'A' && r.name === 'otherhost.local'), 15000, 'the other responder');
    assert.equal(a.data, GW);
    // and the other responder hears the gateway's multicast too
    const heard = await waitFor(async () => (await other.request<Seen[]>('packets', {})).some((p) => p.questions.some((q) => q.name === '_iotgw-dev._tcp.local')), 15000, 'the gateway browse query, seen by the other responder');
    assert.ok(heard);
  });

  test('a simulated ESP32 announcing _iotgw-dev._tcp is discovered, online after a reading, offline after its goodbye', async () => {
    await peer.request('announce', { instance: 'esp32 a1', host: 'esp32-a1.local', address: DEV, port: 80, ttl: 120, txt: { id: 'esp-a1', group: 'greenhouse', fw: '1.4.2', mac: '24:6f:28:aa:bb:01' } });
    const d = await waitFor(async () => await device('esp-a1'), 15000, 'esp-a1 in GET /devices');
    assert.equal(d.state, 'discovered');
    assert.equal(d.group_id, 'greenhouse');
    assert.equal(d.firmware.version, '1.4.2');
    assert.equal(d.mac, '24:6f:28:aa:bb:01');
    assert.deepEqual(d.addresses, [DEV]);
    assert.equal(d.last_reading, null);
    const after = await gw.request<Device>('reading', { device_id: 'esp-a1', group_id: 'greenhouse', remote: `::ffff:${DEV}` });
    assert.equal(after.state, 'online');
    await peer.request('goodbye', { instance: 'esp32 a1' });
    await waitFor(async () => (await device('esp-a1'))?.state === 'offline', 15000, 'esp-a1 offline after its goodbye');
  });

  test('a bare PTR is followed up: the gateway asks for SRV/TXT, then A, and resolves the device', async () => {
    const since = Date.now();
    await peer.request('announce', { instance: 'esp32 b2', host: 'esp32-b2.local', address: DEV, port: 8080, ttl: 120, ptrOnly: true, txt: { id: 'esp-b2', group: 'barn', fw: '1.5.0', mac: '24:6f:28:aa:bb:02' } });
    const d = await waitFor(async () => { const x = await device('esp-b2'); return x?.addresses.length ? x : null; }, 15000, 'esp-b2 resolved with an address');
    assert.equal(d.state, 'discovered');
    assert.equal(d.firmware.version, '1.5.0');
    assert.deepEqual(d.addresses, [DEV]);
    const asked = (await packets(since)).filter((p) => p.kind === 'query').flatMap((p) => p.questions);
    assert.ok(asked.some((q) => q.type === 'SRV' && q.name === 'esp32 b2._iotgw-dev._tcp.local'), 'asked for SRV');
    assert.ok(asked.some((q) => q.type === 'A' && q.name === 'esp32-b2.local'), 'asked for A');
  });

  test('records that expire without a goodbye make the device offline', async () => {
    await peer.request('announce', { instance: 'esp32 c3', host: 'esp32-c3.local', address: DEV, port: 80, ttl: 2, txt: { id: 'esp-c3', group: 'barn', fw: '1.5.0' } });
    await waitFor(async () => (await device('esp-c3'))?.state === 'discovered', 15000, 'esp-c3 discovered');
    await peer.request('silence', { instance: 'esp32 c3' });
    await waitFor(async () => (await device('esp-c3'))?.state === 'offline', 15000, 'esp-c3 offline after its records expired');
  });

  test('a device that stops sending goes stale, then offline past offline_after_seconds', async () => {
    await gw.request('reading', { device_id: 'esp-b2', group_id: 'barn' });
    await waitFor(async () => (await device('esp-b2'))?.state === 'stale', 15000, 'esp-b2 stale');
    await waitFor(async () => (await device('esp-b2'))?.state === 'offline', 20000, 'esp-b2 offline');
  });

  test('a new address is announced, and a removed one withdrawn (TTL 0), without a restart', async () => {
    const since = Date.now();
    gwNs.ip(['addr', 'add', '10.77.0.9/24', 'dev', gwIf]);
    const added = await waitFor(async () => (await packets(since, '10.77.0.1')).concat(await packets(since, '10.77.0.9')).filter((p) => p.kind === 'response').flatMap((p) => p.records)
      .find((r) => r.type === 'A' && r.name === 'iotgw-test.local' && r.data === '10.77.0.9' && r.ttl > 0), 15000, 'announcement of the new address');
    assert.equal(added.flush, true, 'sent with the cache-flush bit');
    const since2 = Date.now();
    gwNs.ip(['addr', 'del', '10.77.0.9/24', 'dev', gwIf]);
    await waitFor(async () => (await packets(since2)).filter((p) => p.kind === 'response').flatMap((p) => p.records)
      .some((r) => r.type === 'A' && r.name === 'iotgw-test.local' && r.data === '10.77.0.9' && r.ttl === 0), 15000, 'goodbye for the removed address');
  });

  test('stop() sends goodbye packets (TTL 0) for the gateway records', async () => {
    const since = Date.now();
    await gw.request('stop');
    const bye = await waitFor(async () => {
      const recs = (await packets(since)).filter((p) => p.kind === 'response').flatMap((p) => p.records).filter((r) => r.ttl === 0);
      return recs.some((r) => r.type === 'PTR' && r.name === '_iotgw._tcp.local') && recs.some((r) => r.type === 'A' && r.name === 'iotgw-test.local') ? recs : null;
    }, 15000, 'goodbye packets');
    assert.ok(bye.some((r) => r.type === 'SRV' && r.name === 'iotgw gw-test._iotgw._tcp.local'));
    assert.ok(bye.some((r) => r.type === 'TXT' && r.name === 'iotgw gw-test._iotgw._tcp.local'));
    assert.ok(bye.some((r) => r.type === 'PTR' && r.name === '_mqtt._tcp.local'), 'the MQTT service is withdrawn too');
  });

  test('with discovery off nothing is sent', async () => {
    const off = gwNs.node(FIXTURE, { IOTGW_DISCOVERY: 'off', IOTGW_FIXTURE_OVERRIDES: JSON.stringify({ gateway_id: 'gw-off' }) });
    try {
      await off.waitEvent('ready');
      const since = Date.now();
      await peer.request('query', { name: '_iotgw._tcp.local', type: 'PTR' });
      await peer.request('query', { name: 'iotgw.local', type: 'A' });
      // the querier's own packets round-trip through the gateway namespace's peer; wait until they were seen there
      await waitFor(async () => (await other.request<Seen[]>('packets', { since })).filter((p) => p.from === DEV).length >= 2, 15000, 'queries delivered to the gateway namespace');
      await sleep(1000);
      assert.deepEqual((await packets(since)).map((p) => p.kind), [], 'no packet from the gateway namespace');
    } finally {
      await off.kill();
    }
  });
});

describe('discovery without multicast (only lo, no multicast route)', { skip }, () => {
  test('the gateway starts and serves HTTP, with one warning', async () => {
    const ns = Netns.create();
    const gw = ns.node(FIXTURE, { IOTGW_FIXTURE_PORT: '3999', IOTGW_FIXTURE_OVERRIDES: JSON.stringify({ gateway_id: 'gw-lonely' }) });
    try {
      await gw.waitEvent('ready');
      const r = spawnSync('ip', ['netns', 'exec', ns.name, process.execPath, '-e', "fetch('http://127.0.0.1:3999/devices').then(async (r) => console.log(r.status, await r.text()))"], { encoding: 'utf8' });
      assert.equal(r.stdout.trim(), '200 []');
      await gw.request('list');
      await sleep(500);
      await expectDegradedOnceThenStop(gw);
    } finally {
      await gw.kill();
      ns.destroy();
    }
  });
});

describe('the full gateway (gateway/main.ts start) in a namespace', { skip }, () => {
  test('an announced board shows in GET /devices, goes online after POST /telemetry, offline after its goodbye; SIGTERM sends goodbyes', async () => {
    const gwNs = Netns.create();
    const devNs = Netns.create();
    Netns.link(gwNs, GW, devNs, DEV);
    const dir = tempDir('iotgw-disc-main-');
    const peer = devNs.node(PEER);
    const main = spawn('ip', ['netns', 'exec', gwNs.name, process.execPath, '--import', 'tsx', join(import.meta.dirname, '../gateway/main.ts'), 'start'], {
      // The namespace has its own network stack: its port 1883 is not the machine's.
      env: { ...process.env, IOTGW_PORT: '3000', IOTGW_MQTT_PORT: '1883', IOTGW_DATA_DIR: dir.path, IOTGW_REDIS_URL: 'none', IOTGW_DISCOVERY: 'on', IOTGW_GATEWAY_ID: 'gw-main', IOTGW_CONFIG: '', IOTGW_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const logs: string[] = [];
    main.stdout.on('data', (b: Buffer) => logs.push(b.toString()));
    main.stderr.on('data', (b: Buffer) => logs.push(b.toString()));
    try {
      await peer.waitEvent('ready');
      const base = `http://${GW}:3000`;
      await waitFor(async () => (await peer.request<{ status: number }>('http', { url: `${base}/healthz` }).catch(() => ({ status: 0 }))).status === 200, 30000, `the gateway to serve HTTP: ${logs.join('').slice(-2000)}`);
      const since = Date.now();
      await peer.request('query', { name: '_iotgw._tcp.local', type: 'PTR' });
      await waitFor(async () => (await peer.request<Seen[]>('packets', { from: GW, since })).flatMap((p) => p.records).find((r) => r.type === 'SRV' && r.data.port === 3000 && r.data.target === 'iotgw.local'), 15000, 'SRV answer from the gateway');
      await peer.request('query', { name: '_mqtt._tcp.local', type: 'PTR' });
      await waitFor(async () => (await peer.request<Seen[]>('packets', { from: GW, since })).flatMap((p) => p.records).find((r) => r.type === 'SRV' && r.name === 'iotgw gw-main._mqtt._tcp.local' && r.data.port === 1883), 15000, 'the broker advertised as _mqtt._tcp');

      await peer.request('announce', { instance: 'esp32 e5', host: 'esp32-e5.local', address: DEV, port: 80, ttl: 120, txt: { id: 'esp-e5', group: 'field', fw: '1.0.0', mac: '24:6f:28:aa:bb:05' } });
      const devicesNow = async () => (await peer.request<{ body: Device[] }>('http', { url: `${base}/devices` })).body;
      const find = async () => { const b = await devicesNow(); return Array.isArray(b) ? b.find((d) => d.device_id === 'esp-e5') : (b as { devices?: Device[] }).devices?.find((d) => d.device_id === 'esp-e5'); };
      assert.equal((await waitFor(find, 15000, 'esp-e5 in GET /devices')).state, 'discovered');
      const post = await peer.request<{ status: number }>('http', { url: `${base}/telemetry`, body: { device_id: 'esp-e5', group_id: 'field', device_type: 'esp32', temperature: 21.5 } });
      assert.ok(post.status >= 200 && post.status < 300, `POST /telemetry answered ${post.status}`);
      await waitFor(async () => (await find())?.state === 'online', 15000, 'esp-e5 online after its reading');
      const one = await peer.request<{ status: number; body: Device }>('http', { url: `${base}/devices/esp-e5` });
      assert.equal(one.status, 200);
      await peer.request('goodbye', { instance: 'esp32 e5' });
      await waitFor(async () => (await find())?.state === 'offline', 15000, 'esp-e5 offline after its goodbye');

      const before = Date.now();
      main.kill('SIGTERM');
      await waitFor(async () => (await peer.request<Seen[]>('packets', { from: GW, since: before })).flatMap((p) => p.records).some((r) => r.type === 'PTR' && r.name === '_iotgw._tcp.local' && r.ttl === 0), 15000, 'goodbye on SIGTERM');
    } finally {
      main.kill('SIGKILL');
      await peer.kill();
      gwNs.destroy();
      devNs.destroy();
      dir.cleanup();
    }
  });
});
