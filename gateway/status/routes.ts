import { decodeCursor } from '../buffer/device-pages.ts';
import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../errors.ts';
import type { ReadingDoc } from '../reading.ts';
import type { Metrics } from '../metrics.ts';
import type { Logger } from '../log.ts';
import type { TrafficStats } from './traffic.ts';
import { statsBody } from './stats.ts';
import { StatusEvents } from './events.ts';
import { registerPageAssets } from './assets.ts';

/** What the read API needs from the buffer, the inventory and the uploader (kept narrow on purpose). */
export interface StatusSources {
  gatewayId: string;
  version: string;
  startedAt: number;
  /** Where the HTTP server listens: the page lists the addresses it can be reached on. */
  http: { host: string; port(): number };
  redisConfigured: boolean;
  windowSeconds: number;
  log: Logger;
  metrics: Metrics;
  traffic: TrafficStats;
  buffer: {
    mode: string;
    latestPerDevice(): Promise<ReadingDoc[]>;
    deviceReadingsPage(deviceId: string, q: { from?: number; to?: number; limit: number; cursor?: string }): Promise<{ readings: ReadingDoc[]; next: string | null }>;
    listWindows(): Promise<{ store: string; window: number; count: number; bytes: number }[]>;
    ping(): Promise<void>;
  };
  inventory: { list(): unknown[]; get(id: string): unknown | undefined };
  upload: {
    readonly enabled: boolean;
    status(): unknown;
    /** One upload pass now, the same one `iotgw upload --now` runs; never throws. */
    runOnce(): Promise<unknown>;
    refreshQueue?(): Promise<void>;
  };
  discovery: { status(): unknown };
  /** Device authentication: mode and how many keys (never the keys). */
  auth?: { status(): unknown };
}

const DEVICE_ID = /^[A-Za-z0-9._:-]{1,64}$/;
const MAX_LIMIT = 10000;

/** Registers the read API, the status page and its event stream; returns the stream, which intake feeds. */
export function registerStatusRoutes(app: FastifyInstance, s: StatusSources): { events: StatusEvents } {
  registerPageAssets(app);

  // The original API answered `{status: "ok"}` here; kept as-is for existing monitors.
  app.get('/health', async () => ({ status: 'ok' }));
  app.get('/healthz', async () => ({ status: 'ok', uptime_s: Math.round((Date.now() - s.startedAt) / 1000) }));
  app.get('/readyz', async (_req, reply) => {
    try {
      await s.buffer.ping();
      return { status: 'ready', store: s.buffer.mode };
    } catch {
      return reply.code(503).header('Retry-After', '5').send(new GatewayError('not_ready', 'no store can take writes', 503).toJSON());
    }
  });

  // The original API's cache view: the latest reading of each device.
  app.get('/redis', async () => {
    const devices = await s.buffer.latestPerDevice();
    return { status: 'success', count: devices.length, devices };
  });

  app.get('/devices', async () => ({ devices: s.inventory.list() }));

  app.get<{ Params: { id: string } }>('/devices/:id', async (req) => {
    const id = checkDeviceId(req.params.id);
    const found = s.inventory.get(id);
    if (!found) throw new GatewayError('not_found', `device "${id}" is not known to this gateway`, 404);
    return found;
  });

  app.get<{ Params: { id: string }; Querystring: Record<string, string> }>('/devices/:id/readings', async (req) => {
    const id = checkDeviceId(req.params.id);
    const from = parseTime(req.query.from, 'from');
    const to = parseTime(req.query.to, 'to');
    const limit = req.query.limit === undefined ? 100 : Number(req.query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) throw new GatewayError('invalid_query', `limit: must be an integer from 1 to ${MAX_LIMIT}`, 400, 'limit');
    if (from !== undefined && to !== undefined && from > to) throw new GatewayError('invalid_query', 'from: must not be after to', 400, 'from');
    const cursor = req.query.cursor;
    if (cursor !== undefined && (cursor.length === 0 || decodeCursor(cursor) === null)) throw new GatewayError('invalid_query', 'cursor: must be the `next` of an earlier answer', 400, 'cursor');
    // Complete over every buffered window; `next` (null at the end) continues past `limit`.
    const page = await s.buffer.deviceReadingsPage(id, { from, to, limit, cursor });
    return { device_id: id, count: page.readings.length, readings: page.readings, next: page.next };
  });

  app.get('/stats', () => statsBody(s));

  const events = new StatusEvents({
    log: s.log,
    sources: { devices: () => s.inventory.list() as { device_id: string }[], latest: () => s.buffer.latestPerDevice(), stats: () => statsBody(s) },
  });
  app.get('/events', (req, reply) => events.attach(req, reply));
  app.addHook('preClose', (done) => { events.stop(); done(); });

  // The page's "upload now" button. 409, not 503 + Retry-After: waiting does not help, only a mongodb.uri does.
  app.post('/upload/now', async () => {
    if (!s.upload.enabled) throw new GatewayError('upload_disabled', 'upload is disabled on this gateway: mongodb.uri is not configured', 409);
    const report = await s.upload.runOnce();
    await s.upload.refreshQueue?.();
    return report;
  });

  app.get('/metrics', async (_req, reply) => reply.type(s.metrics.registry.contentType).send(await s.metrics.registry.metrics()));
  return { events };
}

function checkDeviceId(id: string): string {
  if (!DEVICE_ID.test(id)) throw new GatewayError('invalid_field', 'device_id: must be 1-64 characters of A-Z a-z 0-9 . _ : -', 400, 'device_id');
  return id;
}

/** Accepts ISO 8601 or epoch milliseconds, the two forms devices and people use. */
function parseTime(value: string | undefined, name: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const t = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(t)) throw new GatewayError('invalid_query', `${name}: must be an ISO 8601 time or epoch milliseconds`, 400, name);
  return t;
}
