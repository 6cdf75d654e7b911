import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { getJson } from './http.ts';

/** An MQTT.js client (MQTT 3.1.1, no automatic reconnect unless asked), connected. */
export function connectMqtt(url: string, opts: IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10_000, ...opts });
}

/** Counts the PUBACK packets a client receives, by packet id: what the broker acknowledged. */
export function pubackCounter(client: MqttClient): { readonly total: number; readonly ids: Map<number, number> } {
  const ids = new Map<number, number>();
  let total = 0;
  client.on('packetreceive', (p) => {
    if (p.cmd !== 'puback') return;
    total++;
    ids.set(p.messageId!, (ids.get(p.messageId!) ?? 0) + 1);
  });
  return { get total() { return total; }, ids };
}

/** Resolves when the broker closes the client's connection. */
export function closedByBroker(client: MqttClient): Promise<void> {
  return new Promise((resolve) => client.once('close', () => resolve()));
}

/** The value of one series in the gateway's /metrics (0 when absent), e.g. `iotgw_readings_rejected_total{reason="invalid_json"}`. */
export async function metricValue(baseUrl: string, series: string): Promise<number> {
  const text = String((await getJson(`${baseUrl}/metrics`)).body);
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

/** A reading as a board would publish it to its telemetry topic (ids in the topic), with a per-boot seq. */
export const reading = (bootId: string, seq: number, extra: Record<string, unknown> = {}): string => JSON.stringify({ boot_id: bootId, seq, temp_c: 20 + (seq % 10) / 10, ...extra });
