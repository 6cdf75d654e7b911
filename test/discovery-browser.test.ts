/** The DNS-SD browser and its record cache, fed decoded packets with a fake clock (no network). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { DeviceBrowser } from '../gateway/discovery/browser.ts';
import { RecordCache } from '../gateway/discovery/record-cache.ts';
import { parseAvahiLine } from '../gateway/discovery/avahi-parse.ts';
import { decodeTxt, hostAddresses } from '../gateway/discovery/names.ts';
import type { Announcement } from '../gateway/inventory/types.ts';

const DEV = '_iotgw-dev._tcp.local';
const inst = `esp a._iotgw-dev._tcp.local`;

function setup() {
  let now = 1_000_000;
  const events: (['up', Announcement] | ['down', string])[] = [];
  const queries: { name: string; type: string }[][] = [];
  const browser = new DeviceBrowser({ query: (q) => queries.push(q) }, {
    recordAnnouncement: (a) => events.push(['up', a]), recordGoodbye: (id) => events.push(['down', id]),
  }, { maxQueryIntervalMs: 8000, tickMs: 0, clock: () => now }, pino({ level: 'silent' }));
  return { browser, events, queries, advance: (ms: number) => { now += ms; browser.tick(); } };
}

const full = (ttl = 120) => ({
  answers: [{ name: DEV, type: 'PTR', ttl, data: inst }],
  additionals: [
    { name: inst, type: 'SRV', ttl, flush: true, data: { port: 80, target: 'esp-a.local' } },
    { name: inst, type: 'TXT', ttl, flush: true, data: [Buffer.from('id=esp-a'), Buffer.from('group=g'), Buffer.from('fw=1.0'), Buffer.from('mac=aa')] },
    { name: 'esp-a.local', type: 'A', ttl, flush: true, data: '10.0.0.5' },
  ],
});

test('a full announcement resolves at once; a goodbye reports the device gone', () => {
  const { browser, events } = setup();
  browser.start();
  browser.handleResponse(full());
  assert.deepEqual(events, [['up', { id: 'esp-a', group: 'g', fw: '1.0', mac: 'aa', addresses: ['10.0.0.5'], host: 'esp-a.local', port: 80, ttl: 120 }]]);
  browser.handleResponse({ answers: [{ name: DEV, type: 'PTR', ttl: 0, data: inst }] });
  assert.deepEqual(events.at(-1), ['down', 'esp-a']);
});

test('missing links are queried: PTR → SRV/TXT, SRV → A/AAAA', () => {
  const { browser, events, queries } = setup();
  browser.handleResponse({ answers: [{ name: DEV, type: 'PTR', ttl: 120, data: inst }] });
  assert.deepEqual(queries.at(-1), [{ name: inst, type: 'SRV' }, { name: inst, type: 'TXT' }]);
  const f = full();
  browser.handleResponse({ answers: f.additionals.slice(0, 2) });
  assert.deepEqual(queries.at(-1), [{ name: 'esp-a.local', type: 'A' }, { name: 'esp-a.local', type: 'AAAA' }]);
  assert.deepEqual((events.at(-1)![1] as Announcement).addresses, []);
  browser.handleResponse({ answers: f.additionals.slice(2) });
  assert.deepEqual((events.at(-1)![1] as Announcement).addresses, ['10.0.0.5']);
});

test('records expire after their TTL; a refresh query goes out at 80 %; browse queries back off', () => {
  const { browser, events, queries, advance } = setup();
  browser.start();
  browser.handleResponse(full(10));
  queries.length = 0;
  advance(8000);
  assert.ok(queries.some((q) => q.some((x) => x.name === DEV && x.type === 'PTR')), 'refresh query at 80 % of the TTL');
  advance(2000);
  assert.deepEqual(events.at(-1), ['down', 'esp-a']);
  // the browse schedule: 1, 2, 4, 8, 8 … seconds
  queries.length = 0;
  for (let i = 0; i < 40; i++) advance(1000);
  assert.ok(queries.length >= 4 && queries.length <= 7, `about 40/8 browse queries, got ${queries.length}`);
});

test('a cache-flush record replaces older records of its name; a changed address is reported', () => {
  const { browser, events, advance } = setup();
  browser.handleResponse(full());
  advance(2000);
  browser.handleResponse({ answers: [{ name: 'esp-a.local', type: 'A', ttl: 120, flush: true, data: '10.0.0.7' }] });
  assert.deepEqual((events.at(-1)![1] as Announcement).addresses, ['10.0.0.7']);
});

test('RecordCache: goodbye removes only the matching record', () => {
  const c = new RecordCache(() => 0);
  c.add([{ name: 'h.local', type: 'A', ttl: 120, data: '1.1.1.1' }, { name: 'h.local', type: 'A', ttl: 120, data: '2.2.2.2' }]);
  c.add([{ name: 'h.local', type: 'A', ttl: 0, data: '1.1.1.1' }]);
  assert.deepEqual(c.find('H.LOCAL', 'A').map((r) => r.rr.data), ['2.2.2.2']);
});

test('TXT decoding and address selection', () => {
  assert.deepEqual(decodeTxt([Buffer.from('ID=x'), Buffer.from('flag'), Buffer.from('id=dup'), Buffer.from('v=a=b')]), { id: 'x', flag: '', v: 'a=b' });
  const fake = () => ({
    lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true }],
    eth0: [{ address: '10.0.0.2', family: 'IPv4', internal: false }, { address: 'fe80::1', family: 'IPv6', internal: false }, { address: 'fd00::2', family: 'IPv6', internal: false }],
    wlan0: [{ address: '192.168.4.1', family: 'IPv4', internal: false }],
  }) as unknown as ReturnType<typeof import('node:os').networkInterfaces>;
  assert.deepEqual(hostAddresses([], fake), { ipv4: ['10.0.0.2', '192.168.4.1'], ipv6: ['fd00::2'], byInterface: { eth0: '10.0.0.2', wlan0: '192.168.4.1' } });
  assert.deepEqual(hostAddresses(['wlan0'], fake).ipv4, ['192.168.4.1']);
});

test('avahi-browse parsable lines', () => {
  assert.deepEqual(parseAvahiLine('+;eth0;IPv4;esp32\\032a1;_iotgw-dev._tcp;local'), { kind: 'new', iface: 'eth0', protocol: 'IPv4', name: 'esp32 a1', type: '_iotgw-dev._tcp', domain: 'local' });
  assert.deepEqual(parseAvahiLine('=;veth0;IPv4;esp32\\032a1;_iotgw-dev._tcp;local;esp32-a1.local;10.77.0.2;80;"mac=24:6f" "id=esp-a1" "note=a\\"b;c"'), {
    kind: 'resolved', iface: 'veth0', protocol: 'IPv4', name: 'esp32 a1', type: '_iotgw-dev._tcp', domain: 'local', host: 'esp32-a1.local', address: '10.77.0.2', port: 80, txt: ['mac=24:6f', 'id=esp-a1', 'note=a"b;c'],
  });
  assert.equal(parseAvahiLine('Failed to create client object: Daemon not running'), null);
});
