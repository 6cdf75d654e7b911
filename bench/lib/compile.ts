/**
 * Compiled builds for the bench: the gateway runs as production runs it (dist/iotgw.mjs, built by
 * scripts/build.mjs, which bin/iotgw.js prefers), and the upload baseline is compiled the same way
 * so both sides of the upload comparison pay the same plain-node start-up.
 */
import { mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundle, buildGateway } from '../../scripts/build.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
let gateway: Promise<string> | null = null;

/** Builds dist/iotgw.mjs once per bench run and returns its path. */
export function builtGateway(): Promise<string> {
  gateway ??= buildGateway();
  return gateway;
}

/** Bundles a bench script (dependencies external) into bench/.build and returns its path. */
export async function builtScript(entry: string): Promise<string> {
  const outfile = join(root, 'bench/.build', `${entry.replace(/[/.]/g, '_')}.mjs`);
  mkdirSync(dirname(outfile), { recursive: true });
  await bundle(entry, outfile);
  return outfile;
}
