/**
 * MQTT load for bench/mqtt.ts: `connections` MQTT.js clients (MQTT 3.1.1, clean sessions), each
 * keeping `window` QoS 1 PUBLISHes unacknowledged, closed loop: the next message leaves when a
 * PUBACK arrives. Each message is one sketch reading of the fleet (bench/lib/payload.ts) on its
 * device's telemetry topic. Latency: from publish to its PUBACK.
 */
import { connectAsync, type MqttClient } from 'mqtt';
import { deviceId, groupId } from './payload.ts';
import { round } from '../load.ts';

export interface MqttLoadResult {
  duration_s: number;
  /** PUBACKs received in the measured interval. */
  messages: number;
  messages_per_s: number;
  p50_ms: number;
  p99_ms: number;
  /** Publishes that failed (a closed connection). */
  errors: number;
}

export interface MqttLoadOptions {
  url: string;
  /** One reading JSON per device of the fleet. */
  bodies: string[];
  connections: number;
  window: number;
  durationS: number;
}

export async function mqttLoad(o: MqttLoadOptions): Promise<MqttLoadResult> {
  const topics = o.bodies.map((_, i) => `iotgw/${groupId(i)}/${deviceId(i)}/telemetry`);
  const clients: MqttClient[] = await Promise.all(Array.from({ length: o.connections }, (_, i) =>
    connectAsync(o.url, { clientId: `bench-${process.pid}-${i}`, protocolVersion: 4, reconnectPeriod: 0, clean: true })));
  const latencies: number[] = [];
  let acked = 0;
  let errors = 0;
  let measuring = false;
  let sending = true;
  let inFlight = 0;

  const lane = (c: MqttClient, start: number): void => {
    let device = start;
    const send = (): void => {
      if (!sending) return;
      const d = device;
      device = (device + 1) % o.bodies.length;
      const t0 = performance.now();
      inFlight++;
      c.publish(topics[d], o.bodies[d], { qos: 1 }, (err) => {
        inFlight--;
        if (err) {
          if (measuring) errors++;
          return;
        }
        if (measuring) {
          acked++;
          latencies.push(performance.now() - t0);
        }
        send();
      });
    };
    send();
  };
  const started = performance.now();
  measuring = true;
  clients.forEach((c, i) => { for (let k = 0; k < o.window; k++) lane(c, (i * 7 + k * 31) % o.bodies.length); });
  await new Promise((r) => setTimeout(r, o.durationS * 1000));
  const duration = (performance.now() - started) / 1000;
  measuring = false;
  sending = false;
  // Let what is in flight be answered (not counted), so the server is idle before the next phase.
  const deadline = Date.now() + 5000;
  while (inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await Promise.all(clients.map((c) => c.endAsync(true)));
  latencies.sort((a, b) => a - b);
  const at = (q: number): number => (latencies.length ? round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))], 3) : 0);
  return { duration_s: round(duration, 2), messages: acked, messages_per_s: round(acked / duration, 1), p50_ms: at(0.5), p99_ms: at(0.99), errors };
}
