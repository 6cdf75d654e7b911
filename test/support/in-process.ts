import { loadConfig, type Config } from '../../gateway/config.ts';
import { createLogger } from '../../gateway/log.ts';
import { Gateway } from '../../gateway/gateway.ts';
import { tempDir } from './ports.ts';

/**
 * A gateway in the test's own process on an ephemeral port, for API-level tests that do not
 * need to kill the process. Settings are dotted paths (`'ingest.max_batch': 10`).
 */
export async function startGateway(overrides: Record<string, unknown> = {}): Promise<{ gw: Gateway; config: Config; url: string; dataDir: string; stop(): Promise<void> }> {
  const dir = tempDir();
  const config = loadConfig({
    env: {},
    overrides: { data_dir: dir.path, 'http.host': '127.0.0.1', 'http.port': 0, 'discovery.enabled': false, 'log.level': 'silent', ...overrides },
  });
  const gw = new Gateway(config, createLogger(config.log.level), 'test');
  await gw.start();
  return {
    gw,
    config,
    url: `http://127.0.0.1:${gw.port}`,
    dataDir: dir.path,
    stop: async () => {
      await gw.stop();
      dir.cleanup();
    },
  };
}

export { postJson, getJson } from './http.ts';
