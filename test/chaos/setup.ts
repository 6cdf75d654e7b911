import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { GatewayProcess } from '../support/gateway-process.ts';
import { tempDir } from '../support/ports.ts';

/** `npm run chaos` sets IOTGW_CHAOS=full: the sizes (20 kills, longer loads); the test command runs the short form. */
export const FULL = process.env.IOTGW_CHAOS === 'full';
export const pick = <T>(short: T, full: T): T => (FULL ? full : short);

/**
 * A daemon for a chaos scenario: short windows (2 s) and an upload pass every second, so hours
 * close and leave during the scenario; no per-device rate limit (the fleet sends in bursts after
 * an outage); small upload retries. Restarts reuse the port and data dir.
 */
export function chaosGateway(o: { dataDir: string; redisUrl?: string; mongoUri?: string; gatewayId: string; database?: string; env?: Record<string, string>; config?: Record<string, unknown>; port?: number }): GatewayProcess {
  return new GatewayProcess({
    dataDir: o.dataDir,
    redisUrl: o.redisUrl,
    mongoUri: o.mongoUri,
    port: o.port,
    env: { IOTGW_WINDOW_SECONDS: '2', IOTGW_UPLOAD_INTERVAL_SECONDS: '1', IOTGW_GATEWAY_ID: o.gatewayId, IOTGW_LOG_LEVEL: 'info', ...o.env },
    config: {
      ingest: { rate_limit: { per_device_per_second: 0 } },
      mongodb: { database: o.database ?? 'iot_database', server_selection_timeout_ms: 1000, connect_timeout_ms: 1000 },
      upload: { retry_base_ms: 50, retry_max_ms: 500 },
      buffer: { maintenance_interval_ms: 1000 },
      ...o.config,
    },
  });
}

/** Drops a scenario's Atlas database (best effort: the wire server may already be stopped). */
export async function dropDatabase(uri: string, database: string): Promise<void> {
  const c = new MongoClient(uri);
  await c.db(database).dropDatabase().catch(() => undefined);
  await c.close();
}

export function scenarioDir(name: string): { path: string; sqlite: string; cleanup(): void } {
  const dir = tempDir(`iotgw-chaos-${name}-`);
  return { ...dir, sqlite: join(dir.path, 'buffer.db') };
}
