/**
 * With a real avahi-daemon on the gateway's host (its own D-Bus, inside a namespace): the default
 * bonjour backend coexists with it on port 5353, and the avahi backend delegates to it. The peer in
 * the other namespace is the same independent dns-packet querier/announcer as in discovery-mdns.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { AvahiDaemon, avahiMissing } from './support/avahi.ts';
import { Netns, expectDegradedOnceThenStop, netnsProbe, type JsonLinesChild } from './support/netns.ts';
import { tempDir, waitFor } from './support/ports.ts';

const probe = netnsProbe();
const missing = avahiMissing();
const skip = !probe.ok ? `needs network namespaces: ${probe.reason}` : missing ? `needs a real avahi-daemon: ${missing}` : false;
const FIXTURE = join(import.meta.dirname, 'support/discovery-fixture.ts');
const PEER = join(import.meta.dirname, 'support/mdns-peer.ts');
const GW = '10.78.0.1';
const DEV = '10.78.0.2';

interface Simple { name: string; type: string; ttl: number; data: any }
interface Seen { at: number; from: string; kind: string; records: Simple[] }
interface Device { device_id: string; state: string; firmware: { version: string | null }; addresses: string[] }

after(() => Netns.destroyAll());

describe('beside a real avahi-daemon', { skip }, () => {
  let gwNs: Netns;
  let peer: JsonLinesChild;
  let avahi: AvahiDaemon;
  const dir = tempDir('iotgw-avahi-');
  const packets = (since: number) => peer.request<Seen[]>('packets', { from: GW, since });
  const answered = (since: number, pred: (r: Simple) => boolean) => waitFor(async () => (await packets(since)).filter((p) => p.kind === 'response').flatMap((p) => p.records).find(pred), 20000, 'an answer');

  before(async () => {
    gwNs = Netns.create();
    const devNs = Netns.create();
    Netns.link(gwNs, GW, devNs, DEV);
    avahi = new AvahiDaemon(gwNs, dir.path);
    await avahi.start();
    peer = devNs.node(PEER);
    await peer.waitEvent('ready');
  });

  after(async () => {
    await peer?.kill().catch(() => {});
    await avahi?.stop();
    dir.cleanup();
  });

  test('bonjour backend: both responders answer on the shared port, and avahi-browse resolves the gateway', async () => {
    const gw = gwNs.node(FIXTURE, { IOTGW_FIXTURE_OVERRIDES: JSON.stringify({ gateway_id: 'gw-bj', 'discovery.host_name': 'iotgw-bj' }) });
    try {
      const port = Number((await gw.waitEvent('ready')).port);
      const since = Date.now();
      await peer.request('query', { name: `${hostname()}.local`, type: 'A' });
      assert.equal((await answered(since, (r) => r.type === 'A' && r.name === `${hostname()}.local`)).data, GW, 'avahi-daemon still answers for the host');
      await peer.request('query', { name: '_iotgw._tcp.local', type: 'PTR' });
      assert.equal((await answered(since, (r) => r.type === 'SRV' && r.name === 'iotgw gw-bj._iotgw._tcp.local')).data.port, port, 'the gateway answers too');
      // avahi, as an independent querier on the same host, resolves the gateway's service
      const line = await waitFor(() => avahi.run(['avahi-browse', '-rtpk', '_iotgw._tcp']).split('\n').find((l) => l.startsWith('=') && l.includes('gw-bj')), 20000, 'avahi-browse resolving the gateway');
      assert.match(line, new RegExp(`;iotgw-bj\\.local;${GW.replace(/\./g, '\\.')};${port};`));
      assert.match(line, /"id=gw-bj"/);
      assert.deepEqual(gw.warnings.map((l) => l.msg), []);
      await gw.request('stop');
    } finally {
      await gw.kill();
    }
  });

  test('avahi backend: advertises through avahi-daemon, browses devices into the inventory, withdraws on stop', async () => {
    const gw = gwNs.node(FIXTURE, {
      ...avahi.env,
      IOTGW_FIXTURE_MQTT_PORT: '1883',
      IOTGW_FIXTURE_OVERRIDES: JSON.stringify({ gateway_id: 'gw-av', 'discovery.backend': 'avahi', 'discovery.host_name': 'iotgw-av' }),
    });
    try {
      const port = Number((await gw.waitEvent('ready')).port);
      let since = Date.now();
      await peer.request('query', { name: '_iotgw._tcp.local', type: 'PTR' });
      const srv = await answered(since, (r) => r.type === 'SRV' && r.name === 'iotgw gw-av._iotgw._tcp.local');
      assert.equal(srv.data.port, port);
      assert.equal(srv.data.target, 'iotgw-av.local');
      await peer.request('query', { name: 'iotgw-av.local', type: 'A' });
      assert.equal((await answered(since, (r) => r.type === 'A' && r.name === 'iotgw-av.local')).data, GW, 'host name published through avahi');
      const txt = await answered(since, (r) => r.type === 'TXT' && r.name === 'iotgw gw-av._iotgw._tcp.local');
      assert.ok(txt.data.includes('id=gw-av') && txt.data.includes('auth=0'));
      await peer.request('query', { name: '_mqtt._tcp.local', type: 'PTR' });
      const mqttSrv = await answered(since, (r) => r.type === 'SRV' && r.name === 'iotgw gw-av._mqtt._tcp.local');
      assert.equal(mqttSrv.data.port, 1883, 'the broker published through avahi as _mqtt._tcp');

      await peer.request('announce', { instance: 'esp32 d4', host: 'esp32-d4.local', address: DEV, port: 80, ttl: 120, txt: { id: 'esp-d4', group: 'g', fw: '2.0.0' } });
      const d = await waitFor(async () => (await gw.request<Device[]>('list')).find((x) => x.device_id === 'esp-d4'), 20000, 'esp-d4 through avahi-browse');
      assert.equal(d.state, 'discovered');
      assert.equal(d.firmware.version, '2.0.0');
      assert.deepEqual(d.addresses, [DEV]);
      await peer.request('goodbye', { instance: 'esp32 d4' });
      await waitFor(async () => (await gw.request<Device[]>('list')).find((x) => x.device_id === 'esp-d4')?.state === 'offline', 20000, 'esp-d4 offline after its goodbye');

      since = Date.now();
      await gw.request('stop');
      await answered(since, (r) => r.type === 'PTR' && r.name === '_iotgw._tcp.local' && r.ttl === 0);
      assert.deepEqual(gw.warnings.map((l) => l.msg), []);
    } finally {
      await gw.kill();
    }
  });
});

describe('avahi backend without a daemon', { skip: probe.ok ? false : `needs network namespaces: ${probe.reason}` }, () => {
  test('starts degraded with one warning', async () => {
    const ns = Netns.create({ multicastLo: true });
    const gw = ns.node(FIXTURE, { DBUS_SYSTEM_BUS_ADDRESS: 'unix:path=/nonexistent/iotgw-bus', IOTGW_FIXTURE_OVERRIDES: JSON.stringify({ gateway_id: 'gw-nod', 'discovery.backend': 'avahi' }) });
    try {
      await gw.waitEvent('ready');
      await waitFor(() => gw.warnings.length > 0, 15000, 'the warning');
      await gw.request('list');
      await expectDegradedOnceThenStop(gw);
    } finally {
      await gw.kill();
      ns.destroy();
    }
  });
});
