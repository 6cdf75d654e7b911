/**
 * Bridge mode in bench/mqtt.ts: how fast a persistent session's backlog drains from a real
 * mosquitto (test/support/mosquitto.ts) into the gateway (one durable write per message, since
 * MQTT.js hands over one message at a time), against the same client library with a no-op
 * handler (MQTT.js, MQTT 5, `customHandleAcks` acknowledging at once) in the same run.
 *
 * For each subscriber: its session is created (connect, subscribe, disconnect), `messages`
 * QoS 1 readings are published into the session's queue, the subscriber connects again, and the
 * time from its connection to the last message taken is measured.
 */
import { connectAsync } from 'mqtt';
import { TestMosquitto } from '../../test/support/mosquitto.ts';
import { startGateway } from '../servers.ts';
import { CpuMeter } from './proc.ts';
import { deviceId, groupId } from './payload.ts';
import { round } from '../load.ts';

export interface DrainResult {
  name: string;
  messages: number;
  seconds: number;
  messages_per_s: number;
  /** Subscriber CPU (the gateway process; for the no-op client, this bench process) per 100k messages. */
  cpu_s_per_100k: number;
  ratio: number | null;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function fill(url: string, bodies: string[], messages: number): Promise<void> {
  const pub = await connectAsync(url, { clientId: `bench-pub-${process.pid}`, protocolVersion: 4, reconnectPeriod: 0 });
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < messages) {
      const d = next++ % bodies.length;
      await pub.publishAsync(`iotgw/${groupId(d)}/${deviceId(d)}/telemetry`, bodies[d], { qos: 1 });
    }
  };
  await Promise.all(Array.from({ length: 16 }, lane));
  await pub.endAsync();
}

async function noopDrain(url: string, bodies: string[], messages: number): Promise<DrainResult> {
  const opts = { clientId: 'bench-noop-bridge', protocolVersion: 5 as const, clean: false, properties: { sessionExpiryInterval: 0xffffffff }, reconnectPeriod: 0 };
  const first = await connectAsync(url, opts);
  await first.subscribeAsync('iotgw/+/+/telemetry', { qos: 1 });
  await first.endAsync();
  await fill(url, bodies, messages);
  let taken = 0;
  let done!: () => void;
  const all = new Promise<void>((r) => { done = r; });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const client = await connectAsync(url, {
    ...opts,
    customHandleAcks: (_topic, _message, _packet, ack) => {
      ack(null as unknown as Error, 0);
      if (++taken === messages) done();
    },
  });
  await all;
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await client.endAsync(true);
  return { name: 'baseline', messages, seconds: round(seconds, 2), messages_per_s: round(messages / seconds, 1), cpu_s_per_100k: round(((cpu.user + cpu.system) / 1e6 / messages) * 100_000, 3), ratio: null };
}

async function gatewayDrain(mode: 'sqlite' | 'redis', url: string, bodies: string[], messages: number): Promise<DrainResult> {
  const settings = { 'mqtt.subscribe.url': url, 'mqtt.subscribe.client_id': `bench-bridge-${mode}` };
  const metric = async (base: string, series: string): Promise<number> => {
    const text = await (await fetch(`${base}/metrics`)).text();
    return Number(text.split('\n').find((l) => l.startsWith(`${series} `))?.slice(series.length + 1) ?? 0);
  };
  const baseOf = (srv: { httpUrl: string }) => srv.httpUrl.replace(/\/telemetry$/, '');
  const creating = await startGateway(mode, { wsInFlight: 64, settings });
  while ((await metric(baseOf(creating), 'iotgw_mqtt_bridge_connected')) !== 1) await sleep(20);
  await creating.stop();
  await fill(url, bodies, messages);
  const srv = await startGateway(mode, { wsInFlight: 64, settings });
  const base = baseOf(srv);
  const accepted = 'iotgw_readings_accepted_total{transport="mqtt"}';
  while ((await metric(base, 'iotgw_mqtt_bridge_connected')) !== 1) await sleep(10);
  const t0 = performance.now();
  const meter = new CpuMeter([srv.pid]).start();
  // Polled, not watched closely: each /metrics render costs the gateway CPU that would count here.
  while ((await metric(base, accepted)) < messages) await sleep(250);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = meter.stop().get(srv.pid) ?? 0;
  await srv.stop();
  return { name: mode, messages, seconds: round(seconds, 2), messages_per_s: round(messages / seconds, 1), cpu_s_per_100k: round((cpu / messages) * 100_000, 3), ratio: null };
}

export async function bridgeDrain(modes: ('sqlite' | 'redis')[], bodies: string[], messages: number, log: (m: string) => void): Promise<DrainResult[]> {
  const mosquitto = await new TestMosquitto({ config: [`max_queued_messages ${messages * 2}`] }).start();
  try {
    log(`bridge: draining ${messages} queued messages, no-op MQTT.js subscriber`);
    const out = [await noopDrain(mosquitto.url, bodies, messages)];
    for (const mode of modes) {
      log(`bridge: draining ${messages} queued messages, gateway (${mode})`);
      out.push(await gatewayDrain(mode, mosquitto.url, bodies, messages));
    }
    for (const r of out) r.ratio = round(r.messages_per_s / out[0].messages_per_s, 3);
    return out;
  } finally {
    await mosquitto.destroy();
  }
}
