/**
 * Compiled builds for the bench: the gateway runs as production runs it (dist/iotgw.mjs, built by
 * scripts/build.mjs, which bin/iotgw.js prefers), and the upload baseline is compiled the same way
 * so both sides of the upload comparison pay the same plain-node start-up.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
let gateway: string | null = null;

/** Builds dist/iotgw.mjs once per bench run and returns its path. */
export function builtGateway(): string {
  if (gateway) return gateway;
  const r = spawnSync(process.execPath, [join(root, 'scripts/build.mjs'), '--quiet'], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`scripts/build.mjs failed: ${r.stderr}`);
  gateway = join(root, 'dist/iotgw.mjs');
  return gateway;
}

/** Bundles a bench script (dependencies external) into bench/.build and returns its path. */
export async function builtScript(entry: string): Promise<string> {
  const outfile = join(root, 'bench/.build', `${entry.replace(/[/.]/g, '_')}.mjs`);
  mkdirSync(dirname(outfile), { recursive: true });
  await build({ entryPoints: [join(root, entry)], outfile, bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', logLevel: 'warning' });
  return outfile;
}
