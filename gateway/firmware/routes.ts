import { createReadStream, statSync } from 'node:fs';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { keyFromHeaders, type DeviceAuth } from '../ingest/auth.ts';
import type { DeviceInfo } from '../inventory/types.ts';
import type { FirmwareStore } from './image-store.ts';
import type { Rollout } from './rollout.ts';
import type { FirmwareMetrics } from './metrics.ts';
import { byteRange } from './range.ts';
import { imageView, type ImageDeviceCounts } from './commands.ts';

export interface FirmwareRouteDeps {
  store: FirmwareStore;
  rollout: Rollout;
  auth: DeviceAuth;
  inventory: { list(): DeviceInfo[]; recordDownload(deviceId: string, version: string, bytes: number, size: number): void };
  metrics: FirmwareMetrics;
  maxFailures: () => number;
  log: Logger;
}

const SHA_FILE = /^([0-9a-f]{64})\.bin$/;
const ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** Per-image device counts over the inventory: who runs it, and the update states of the boards it targets. */
export function deviceCounts(devices: DeviceInfo[], version: string): ImageDeviceCounts {
  const c: ImageDeviceCounts = { running: 0, pending: 0, downloading: 0, failed: 0, updated: 0, rolled_back: 0 };
  for (const d of devices) {
    if (d.firmware.version === version) c.running++;
    if (d.firmware.target === version && d.firmware.state) c[d.firmware.state]++;
  }
  return c;
}

/**
 * `GET /firmware` (the rollouts, under the read token like the other reads),
 * `GET /firmware/check` and `GET /firmware/<sha256>.bin` (the boards', under their device keys:
 * read-token.ts leaves `/firmware/` open for them).
 */
export function registerFirmwareRoutes(app: FastifyInstance, deps: FirmwareRouteDeps): void {
  const { store, rollout, auth, inventory, metrics } = deps;

  app.get('/firmware', async () => {
    const devices = inventory.list();
    const images = [...store.images].sort((a, b) => b.published_seq - a.published_seq).map((e) => imageView(e, rollout, deviceCounts(devices, e.version)));
    return { images, max_failures: deps.maxFailures() };
  });

  app.get('/firmware/check', async (request) => {
    const q = request.query as Record<string, unknown>;
    const deviceId = requireId(q.device_id, 'device_id');
    const groupId = requireId(q.group_id, 'group_id');
    if (typeof q.version !== 'string' || q.version === '') throw new GatewayError('invalid_field', 'version: is required (the firmware version the board runs)', 400, 'version');
    authorize(auth, keyFromHeaders(request.headers), deviceId);
    return { firmware: rollout.offerFor(deviceId, groupId, q.version) };
  });

  app.get('/firmware/:file', async (request: FastifyRequest, reply: FastifyReply) => {
    const file = (request.params as { file: string }).file;
    const q = request.query as Record<string, unknown>;
    const deviceId = typeof q.device_id === 'string' && q.device_id !== '' ? requireId(q.device_id, 'device_id') : null;
    authorize(auth, keyFromHeaders(request.headers), deviceId);
    const m = SHA_FILE.exec(file);
    const image = m ? store.bySha(m[1]) : undefined;
    if (!image) throw new GatewayError('image_not_found', `no published image ${file} (GET /firmware lists them)`, 404);
    const path = store.pathOf(image.sha256);
    let size: number;
    try {
      size = statSync(path).size;
    } catch {
      deps.log.error({ path, version: image.version }, 'a published firmware image is missing from the data dir; remove and add it again');
      throw new GatewayError('image_missing', `the image of version ${image.version} is missing on the gateway`, 500);
    }
    if (size !== image.size) {
      deps.log.error({ path, version: image.version, size, expected: image.size }, 'a published firmware image changed size on disk; remove and add it again');
      throw new GatewayError('image_damaged', `the image of version ${image.version} is damaged on the gateway`, 500);
    }
    let range;
    try {
      range = byteRange(request.headers.range, size);
    } catch (err) {
      reply.header('Content-Range', `bytes */${size}`);
      throw err;
    }
    const { start, end, partial } = range;
    reply.code(partial ? 206 : 200);
    reply.header('Content-Type', 'application/octet-stream');
    reply.header('Content-Length', String(end - start + 1));
    reply.header('ETag', `"${image.sha256}"`);
    reply.header('Accept-Ranges', 'bytes');
    if (partial) reply.header('Content-Range', `bytes ${start}-${end}/${size}`);
    if (request.method === 'HEAD') return reply.send();
    if (deviceId) {
      rollout.downloadStarted(deviceId, image.sha256);
      inventory.recordDownload(deviceId, image.version, start, size);
    }
    // Streamed from the file (the board reads ~1 KiB at a time over Wi-Fi; never the whole image in memory).
    const stream = createReadStream(path, { start, end });
    reply.raw.once('close', () => {
      const complete = reply.raw.writableFinished;
      // Read from the file is close enough to sent for a progress figure (a socket buffer's worth at most).
      const sent = complete ? end - start + 1 : Math.min(stream.bytesRead, end - start + 1);
      metrics.downloads.inc({ result: complete ? 'complete' : 'interrupted' });
      metrics.bytes.inc(sent);
      if (deviceId) inventory.recordDownload(deviceId, image.version, complete ? end + 1 : start + sent, size);
    });
    return reply.send(stream);
  });
}

/**
 * The readings' rule for the boards' firmware routes: a key, when sent, must speak for the device
 * named (or be a known key when none is named); without a key, only in the open mode and for a
 * device that has none.
 */
function authorize(auth: DeviceAuth, key: string | null, deviceId: string | null): void {
  if (key !== null && key !== '') {
    if (deviceId === null) auth.checkKnown(key);
    else if (!auth.speaksFor(key, deviceId)) throw new GatewayError('unauthorized', `the device key is not valid for device_id "${deviceId}"`, 401, 'device_id');
    return;
  }
  if (auth.required) throw new GatewayError('unauthorized', 'a device key is required (Authorization: Bearer <key>)', 401);
  if (deviceId !== null && auth.hasKey(deviceId)) throw new GatewayError('unauthorized', `device_id "${deviceId}" has a key and must send it (Authorization: Bearer <key>)`, 401, 'device_id');
}

function requireId(v: unknown, name: string): string {
  if (typeof v !== 'string' || v === '') throw new GatewayError('invalid_field', `${name}: is required`, 400, name);
  if (!ID.test(v)) throw new GatewayError('invalid_field', `${name}: must be 1-64 characters of A-Z a-z 0-9 . _ : -`, 400, name);
  return v;
}
