import { existsSync } from 'node:fs';
import { chromium, type BrowserContext } from 'playwright-core';
import { tempDir } from './ports.ts';

/** Debian's Chromium (`apt-get install chromium`, scripts/install-deps.sh). Never a downloaded browser. */
export const CHROMIUM = process.env.IOTGW_CHROMIUM ?? '/usr/bin/chromium';

/**
 * Flags for a closed network: without the background-networking ones Chromium keeps trying to
 * reach Google's services, and those refused connections show up as errors.
 */
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/**
 * Starts Chromium with a fresh profile directory (removed by `close()`). Throws when Chromium is
 * missing: a browser test that cannot find it must fail, in CI too, never skip.
 */
export async function launchChromium(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (bash scripts/install-deps.sh, or apt-get install -y chromium)`);
  const profile = tempDir('iotgw-chromium-');
  const context = await chromium.launchPersistentContext(profile.path, { executablePath: CHROMIUM, headless: true, args: FLAGS, viewport: { width: 1280, height: 900 } });
  return {
    context,
    close: async () => {
      await context.close();
      profile.cleanup();
    },
  };
}

/** What a page did: console errors and uncaught exceptions, and every request it made. */
export interface PageWatch {
  errors: string[];
  requests: { url: string; method: string; headers: Record<string, string> }[];
  /** Requests to any origin other than `origin` (a CDN, a font, a tracker). */
  foreign(origin: string): string[];
}

export function watchContext(context: BrowserContext): PageWatch {
  const w: PageWatch = {
    errors: [],
    requests: [],
    foreign: (origin) => w.requests.map((r) => r.url).filter((u) => !u.startsWith('data:') && new URL(u).origin !== origin),
  };
  context.on('request', (r) => w.requests.push({ url: r.url(), method: r.method(), headers: r.headers() }));
  context.on('console', (m) => { if (m.type() === 'error') w.errors.push(`console: ${m.text()}`); });
  context.on('weberror', (e) => w.errors.push(`page error: ${e.error().message}`));
  return w;
}
