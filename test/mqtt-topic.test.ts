import { createHash } from 'node:crypto';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GatewayError } from '../gateway/errors.ts';
import { DeviceAuth } from '../gateway/ingest/auth.ts';
import { checkMqttLogin } from '../gateway/ingest/mqtt/credentials.ts';
import { PacketScanner } from '../gateway/ingest/mqtt/packet-limit.ts';
import { payloadBody } from '../gateway/ingest/mqtt/payload.ts';
import { TopicTemplate } from '../gateway/ingest/mqtt/topic.ts';

const refusedWith = (code: string, path?: string) => (err: unknown) => {
  assert.ok(err instanceof GatewayError, String(err));
  assert.equal(err.code, code, err.message);
  if (path !== undefined) assert.equal(err.path, path);
  return true;
};

test('the topic template takes the ids from a telemetry topic and names what is wrong with others', () => {
  const t = new TopicTemplate('iotgw/{group_id}/{device_id}/telemetry');
  assert.deepEqual(t.parse('iotgw/greenhouse/esp-1/telemetry'), { group_id: 'greenhouse', device_id: 'esp-1' });
  assert.equal(t.filter, 'iotgw/+/+/telemetry');
  assert.equal(t.covers('iotgw/g/d/telemetry'), true);
  assert.equal(t.covers('iotgw'), true);
  assert.equal(t.covers('iotgwx/g'), false, 'another first level is not intake');
  assert.equal(t.covers('home/lights/set'), false);
  assert.throws(() => t.parse('iotgw/g/telemetry'), refusedWith('invalid_topic'));
  assert.throws(() => t.parse('iotgw/g/d/status'), refusedWith('invalid_topic'));
  assert.throws(() => t.parse('iotgw/g/d/telemetry/extra'), refusedWith('invalid_topic'));
  assert.throws(() => t.parse('iotgw/g/bad id/telemetry'), (err: GatewayError) => {
    assert.equal(err.code, 'invalid_topic');
    assert.match(err.message, /level 3 \("bad id"\) is not a valid device_id/);
    return true;
  });
  const flat = new TopicTemplate('sensors/{device_id}');
  assert.deepEqual(flat.parse('sensors/d9'), { device_id: 'd9' });
  assert.equal(flat.filter, 'sensors/+');
});

test('a payload takes its ids from the topic when it has none, and is refused when it names others', () => {
  const ids = { group_id: 'g', device_id: 'd' };
  assert.deepEqual(payloadBody(Buffer.from('{"t": 21.5}'), ids, 100), { t: 21.5, group_id: 'g', device_id: 'd' });
  assert.deepEqual(payloadBody(Buffer.from('{"t": 1, "device_id": "d", "group_id": "g"}'), ids, 100), { t: 1, device_id: 'd', group_id: 'g' });
  assert.deepEqual(payloadBody(Buffer.from('[{"t": 1}, {"t": 2}]'), ids, 100), [{ t: 1, group_id: 'g', device_id: 'd' }, { t: 2, group_id: 'g', device_id: 'd' }]);
  assert.deepEqual(payloadBody(Buffer.from('{"readings": [{"t": 1}]}'), ids, 100), { readings: [{ t: 1, group_id: 'g', device_id: 'd' }] });
  assert.throws(() => payloadBody(Buffer.from('[{"t": 1}, {"device_id": "other"}]'), ids, 100), refusedWith('topic_mismatch', '[1].device_id'));
  assert.throws(() => payloadBody(Buffer.from('{"group_id": "elsewhere"}'), ids, 100), refusedWith('topic_mismatch', 'group_id'));
  assert.throws(() => payloadBody(Buffer.from('{"t": '), ids, 100), refusedWith('invalid_json'));
  assert.throws(() => payloadBody(Buffer.from('[]'), ids, 100), refusedWith('empty_batch'));
  // Without placeholders the payload is passed as it is, for validation to judge.
  assert.deepEqual(payloadBody(Buffer.from('{"x": 1}'), {}, 100), { x: 1 });
});

test('the packet scanner follows MQTT packet boundaries across chunks and stops at the first oversized packet', () => {
  const packet = (type: number, bodyLength: number): Buffer => {
    const len: number[] = [];
    let n = bodyLength;
    do {
      let b = n % 128;
      n = Math.floor(n / 128);
      if (n > 0) b |= 0x80;
      len.push(b);
    } while (n > 0);
    return Buffer.concat([Buffer.from([type, ...len]), Buffer.alloc(bodyLength, 7)]);
  };
  const small = packet(0x32, 100);
  const pingreq = packet(0xc0, 0);
  const big = packet(0x30, 5000);
  const stream = Buffer.concat([small, pingreq, small, big, small]);
  // Fed one byte at a time: the cut comes at the big packet's first byte.
  const scanner = new PacketScanner(1000);
  let at = -1;
  for (let i = 0; i < stream.length && at === -1; i++) at = scanner.feed(stream.subarray(i, i + 1)) === -1 ? -1 : i;
  assert.equal(at, small.length * 2 + pingreq.length + 2, 'stopped once the length bytes were read');
  assert.equal(scanner.announced, 5000);
  // Fed whole: the offset of the big packet in the chunk.
  const whole = new PacketScanner(1000);
  assert.equal(whole.feed(stream), small.length * 2 + pingreq.length);
  assert.equal(new PacketScanner(1000).feed(Buffer.concat([small, pingreq, small])), -1);
  // A length field longer than four bytes is malformed.
  const bad = new PacketScanner(1000);
  assert.equal(bad.feed(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])), 0);
  assert.equal(bad.announced, Infinity);
});

test('an MQTT login needs the device key of the username, or the shared key', () => {
  const auth = new DeviceAuth({ mode: 'keys', shared_key: 'site', device_keys: { 'dev-a': 'key-a' } });
  assert.doesNotThrow(() => checkMqttLogin(auth, 'dev-a', 'key-a'));
  assert.doesNotThrow(() => checkMqttLogin(auth, 'anyone', 'site'));
  assert.doesNotThrow(() => checkMqttLogin(auth, undefined, 'site'));
  assert.throws(() => checkMqttLogin(auth, 'dev-a', null), refusedWith('unauthorized'));
  assert.throws(() => checkMqttLogin(auth, 'dev-a', 'wrong'), refusedWith('unauthorized'));
  assert.throws(() => checkMqttLogin(auth, 'dev-b', 'key-a'), (err: GatewayError) => /dev-b/.test(err.message));
  assert.throws(() => checkMqttLogin(auth, undefined, 'key-a'), (err: GatewayError) => /username/.test(err.message));
  assert.doesNotThrow(() => checkMqttLogin(new DeviceAuth({ mode: 'none', shared_key: null, device_keys: {} }), undefined, null), 'open intake: anyone');
});

test('an MQTT login in the open mode: keyless boards connect, but a board whose id has a key (iotgw devices add) must send it', () => {
  const stored = { 'dev-k': { hash: `sha256:${createHash('sha256').update('stored-key').digest('hex')}`, group: 'g1' } } as Record<string, { hash: string; group: string | null }>;
  const keys = { size: 1, get: (id: string) => stored[id], list: () => Object.entries(stored).map(([device_id, e]) => ({ device_id, hash: e.hash })) };
  const auth = new DeviceAuth({ mode: 'none', shared_key: null, device_keys: {} }, keys);
  assert.doesNotThrow(() => checkMqttLogin(auth, 'dev-open', null), 'a board without a key');
  assert.throws(() => checkMqttLogin(auth, 'dev-k', null), (err: GatewayError) => err.code === 'unauthorized' && /has a key and must send it/.test(err.message));
  assert.doesNotThrow(() => checkMqttLogin(auth, 'dev-k', 'stored-key'), 'its own key; the group is checked per reading');
  assert.throws(() => checkMqttLogin(auth, 'dev-open', 'stored-key'), (err: GatewayError) => /dev-open/.test(err.message));
  assert.throws(() => checkMqttLogin(auth, 'dev-k', 'guess'), refusedWith('unauthorized'));
});
