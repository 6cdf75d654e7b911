/**
 * The gateway side of the discovery tests, run inside a network namespace: Discovery + Inventory
 * with a config from IOTGW_FIXTURE_OVERRIDES (dotted paths, JSON), a tiny HTTP server serving
 * `GET /devices` from the inventory, and a JSON-lines control channel (see netns.ts):
 *   list | reading {device_id, group_id, remote?} | stop
 * Logs (pino JSON) go to stderr; `{event: 'ready', port}` is printed once start() resolved.
 * IOTGW_FIXTURE_MQTT_PORT: a port to advertise as `_mqtt._tcp`, as the gateway does with its broker on.
 */
import { createServer } from 'node:http';
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { loadConfig } from '../../gateway/config.ts';
import { Discovery } from '../../gateway/discovery/discovery.ts';
import { Inventory } from '../../gateway/inventory/inventory.ts';

const overrides = JSON.parse(process.env.IOTGW_FIXTURE_OVERRIDES ?? '{}') as Record<string, unknown>;
const config = loadConfig({ env: { IOTGW_DISCOVERY: process.env.IOTGW_DISCOVERY ?? 'on' }, overrides });
const log = pino({ level: 'debug', base: { pid: process.pid } }, pino.destination(2));
const metrics = { registry: new Registry() };
const inventory = new Inventory({ config, log, metrics, dbPath: process.env.IOTGW_FIXTURE_DB ?? null, tickMs: 100 });

const http = createServer((req, res) => {
  if (req.url === '/devices') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(inventory.list()));
  } else {
    res.statusCode = 404;
    res.end('{}');
  }
});
await new Promise<void>((r) => http.listen(Number(process.env.IOTGW_FIXTURE_PORT ?? 0), '0.0.0.0', () => r()));
const port = (http.address() as { port: number }).port;

await inventory.start();
const mqttPort = process.env.IOTGW_FIXTURE_MQTT_PORT ? Number(process.env.IOTGW_FIXTURE_MQTT_PORT) : null;
const discovery = new Discovery({ config, log, metrics, port, mqttPort, inventory, version: '0.1.0-test', pollMs: 200 });
await discovery.start();
const out = (msg: unknown) => process.stdout.write(`${JSON.stringify(msg)}\n`);
out({ event: 'ready', port });

for await (const line of createInterface({ input: process.stdin })) {
  const msg = JSON.parse(line) as { id: number; cmd: string; [k: string]: unknown };
  try {
    if (msg.cmd === 'list') out({ id: msg.id, result: inventory.list() });
    else if (msg.cmd === 'reading') {
      const now = Date.now();
      const device_id = String(msg.device_id);
      const group_id = String(msg.group_id ?? 'g1');
      inventory.recordReadings([{ id: `r-${now}`, device_id, group_id, window: 0, received_at: now, doc: { device_id, group_id, device_type: 'esp32-sim', timestamp: new Date(now).toISOString(), status: 'online' } }], msg.remote as string | undefined);
      out({ id: msg.id, result: inventory.get(device_id) });
    } else if (msg.cmd === 'stop') {
      await discovery.stop();
      await inventory.stop();
      await new Promise<void>((r) => http.close(() => r()));
      out({ id: msg.id, result: 'stopped' });
      process.exit(0);
    } else out({ id: msg.id, error: `unknown command ${msg.cmd}` });
  } catch (err) {
    out({ id: msg.id, error: (err as Error).message });
  }
}
