/**
 * Bridge mode against a real mosquitto started by the test on a free port (its own config file
 * in a temp dir). Kill -9 of the gateway: mqtt-crash.test.ts.
 */
import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { startGateway, getJson } from './support/in-process.ts';
import { GatewayProcess } from './support/gateway-process.ts';
import { TestMosquitto } from './support/mosquitto.ts';
import { connectMqtt, metricValue, reading } from './support/mqtt.ts';
import { freePort, tempDir, waitFor } from './support/ports.ts';

const bridgeConnected = (url: string) => waitFor(async () => (await metricValue(url, 'iotgw_mqtt_bridge_connected')) === 1, 15_000, 'the bridge connected');

test('readings published to the site broker are stored; refused ones are acknowledged with an MQTT 5 reason code, counted, and not redelivered', async () => {
  // log_type debug: mosquitto's own record of each PUBACK it receives and its reason code.
  const mosquitto = await new TestMosquitto({ config: ['log_type debug'] }).start();
  let publisher: MqttClient | null = null;
  const settings = { 'mqtt.subscribe.url': mosquitto.url, 'mqtt.subscribe.client_id': 'iotgw-bridge-test' };
  let gw = await startGateway(settings);
  try {
    await bridgeConnected(gw.url);
    publisher = await connectMqtt(mosquitto.url, { clientId: 'site-board' });
    await publisher.publishAsync('iotgw/site/b1/telemetry', reading('bb', 1), { qos: 1 });
    await publisher.publishAsync('iotgw/site/b1/telemetry', '{"temp_c": ', { qos: 1 }); // malformed
    await publisher.publishAsync('iotgw/site/b1/telemetry', reading('bb', 2, { device_id: 'b2' }), { qos: 1 }); // names another device
    await publisher.publishAsync('iotgw/site/b1/telemetry', reading('bb', 3), { qos: 0 }); // best effort
    await publisher.publishAsync('iotgw/site/b1/telemetry', reading('bb', 4), { qos: 1 });
    await waitFor(async () => (await getJson(`${gw.url}/devices/b1/readings`)).body.readings?.length === 3, 15_000, 'three readings stored');
    const seqs = (await getJson(`${gw.url}/devices/b1/readings`)).body.readings.map((r: any) => r.seq).sort();
    assert.deepEqual(seqs, [1, 3, 4]);
    assert.equal(await metricValue(gw.url, 'iotgw_readings_accepted_total{transport="mqtt"}'), 3);
    assert.equal(await metricValue(gw.url, 'iotgw_readings_rejected_total{reason="invalid_json"}'), 1);
    assert.equal(await metricValue(gw.url, 'iotgw_readings_rejected_total{reason="topic_mismatch"}'), 1);
    await waitFor(() => /Received PUBACK from iotgw-bridge-test \(Mid: \d+, RC:153\)/.test(mosquitto.log), 10_000, 'PUBACK 0x99 (payload format invalid) in mosquitto\'s log');
    assert.match(mosquitto.log, /Received PUBACK from iotgw-bridge-test \(Mid: \d+, RC:144\)/, 'PUBACK 0x90 (topic name invalid) for the reading naming another device');
    assert.match(mosquitto.log, /Received PUBACK from iotgw-bridge-test \(Mid: \d+, RC:0\)/, 'PUBACK 0 for the stored ones');

    // The same session after a restart of the gateway: nothing of the above comes back.
    await gw.stop();
    await publisher.publishAsync('iotgw/site/b1/telemetry', reading('bb', 5), { qos: 1 }); // queued for the session meanwhile
    gw = await startGateway(settings);
    await waitFor(async () => (await getJson(`${gw.url}/devices/b1/readings`)).body.readings?.length === 1, 15_000, 'the queued reading');
    assert.equal((await getJson(`${gw.url}/devices/b1/readings`)).body.readings[0].seq, 5);
    assert.equal(await metricValue(gw.url, 'iotgw_readings_rejected_total{reason="invalid_json"}'), 0, 'the refused message was not redelivered');
  } finally {
    publisher?.end(true);
    await gw.stop();
    await mosquitto.destroy();
  }
});

test('a gateway started while the site broker is down starts anyway, warns once, and connects when the broker comes up', async () => {
  const port = await freePort();
  const mosquitto = new TestMosquitto();
  mosquitto.port = port;
  const dir = tempDir();
  const gw = new GatewayProcess({ dataDir: dir.path, config: { mqtt: { subscribe: { url: `mqtt://127.0.0.1:${port}`, client_id: 'iotgw-late' } } } });
  let publisher: MqttClient | null = null;
  try {
    await gw.start();
    assert.equal((await gw.get('/healthz')).status, 200, 'serving without the site broker');
    await gw.waitForLog((l) => l.msg === 'MQTT bridge cannot reach the site broker; retrying every second');
    await mosquitto.start();
    await gw.waitForLog((l) => l.msg === 'MQTT bridge connected', 20_000);
    publisher = await connectMqtt(mosquitto.url, { clientId: 'late-board' });
    await publisher.publishAsync('iotgw/late/lb/telemetry', reading('lb', 1), { qos: 1 });
    await waitFor(async () => (await gw.get('/devices/lb/readings')).body.readings?.length === 1, 15_000, 'the reading through the bridge');
    assert.equal(gw.logs.filter((l) => l.msg === 'MQTT bridge cannot reach the site broker; retrying every second').length, 1, 'one warning, not one per retry');
  } finally {
    publisher?.end(true);
    await gw.stop();
    await gw.kill();
    await mosquitto.destroy();
    dir.cleanup();
  }
});

test('the bridge subscribes to configured filters and maps topics with the template', async () => {
  const mosquitto = await new TestMosquitto().start();
  const gw = await startGateway({
    'mqtt.subscribe.url': mosquitto.url,
    'mqtt.subscribe.client_id': 'iotgw-sensors',
    'mqtt.subscribe.topics': ['sensors/#'],
    'mqtt.topic': 'sensors/{device_id}/data',
  });
  let publisher: MqttClient | null = null;
  try {
    await bridgeConnected(gw.url);
    publisher = await connectMqtt(mosquitto.url, { clientId: 'tasmota-like' });
    await publisher.publishAsync('sensors/plug-7/data', JSON.stringify({ group_id: 'kitchen', power_w: 12.5 }), { qos: 1 });
    await publisher.publishAsync('sensors/plug-7/state', 'ON', { qos: 1 }); // under the filter, not the template
    const r = await waitFor(async () => (await getJson(`${gw.url}/devices/plug-7/readings`)).body.readings?.[0], 15_000, 'the mapped reading');
    assert.equal(r.group_id, 'kitchen');
    assert.equal(r.power_w, 12.5);
    await waitFor(async () => (await metricValue(gw.url, 'iotgw_readings_rejected_total{reason="invalid_topic"}')) === 1, 10_000, 'the state topic refused as not a telemetry topic');
  } finally {
    publisher?.end(true);
    await gw.stop();
    await mosquitto.destroy();
  }
});

test('a subscription filter that MQTT does not allow stops the daemon with the configuration exit code, naming the setting', () => {
  const dir = tempDir();
  try {
    const config = join(dir.path, 'config.yaml');
    writeFileSync(config, 'mqtt:\n  subscribe:\n    url: mqtt://127.0.0.1:1\n    topics: ["a/#/b"]\n');
    const env: Record<string, string> = { ...(process.env as Record<string, string>), IOTGW_CONFIG: config, IOTGW_DATA_DIR: join(dir.path, 'data'), IOTGW_PORT: '0', IOTGW_HOST: '127.0.0.1', IOTGW_DISCOVERY: 'off', IOTGW_REDIS_URL: 'none' };
    delete env.MONGODB_URI;
    delete env.IOTGW_MONGODB_URI;
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'gateway/main.ts', 'start'], { cwd: join(import.meta.dirname, '..'), env, encoding: 'utf8', timeout: 60_000 });
    assert.equal(run.status, 78, run.stdout + run.stderr);
    assert.match(run.stdout, /mqtt\.subscribe\.topics\[0\]: \\"a\/#\/b\\" is not an MQTT topic filter/);
  } finally {
    dir.cleanup();
  }
});
