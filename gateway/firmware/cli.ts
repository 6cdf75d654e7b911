/**
 * `iotgw firmware add FILE.bin --version V [--group G]... | list [--json] | remove V | pause V | resume V`.
 * With a daemon running, the command goes through its admin socket, so boards are offered the
 * change on their next acknowledgement and the CLI says so; without one, it edits
 * `<data_dir>/firmware/` itself and says the change applies when the daemon starts.
 * Exit codes: 0 ok, 1 refused (the error names the problem), 2 usage, 78 bad configuration.
 */
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { loadConfigOrExitCode } from '../config.ts';
import { GatewayError } from '../errors.ts';
import { createLogger } from '../log.ts';
import { adminCall, AdminCommandError, DaemonNotRunning } from '../admin/client.ts';
import { adminSocketPath } from '../admin/protocol.ts';
import { CatalogueError } from './catalogue.ts';
import { FirmwareStore } from './image-store.ts';
import { Rollout } from './rollout.ts';
import { FirmwareCommands, type ImageView } from './commands.ts';

export const FIRMWARE_USAGE = `usage: iotgw firmware <add|list|remove|pause|resume> [--config FILE]

  add FILE.bin --version V [--group G]...   publish an image (the .bin PlatformIO builds) for
                                            every board, or for the named groups only
  list [--json]                             published images, their rollout and their boards
  remove V                                  unpublish V (boards are offered the image published
                                            before it again, if any: how to roll back)
  pause V                                   stop offering V; boards already updated stay
  resume V                                  offer V again, also to boards that rolled back or
                                            kept failing with it

V is the version built into the image (IOTGW_FW_VERSION), e.g. 0.2.0. See docs/firmware-updates.md.`;

type Out = { out: NodeJS.WritableStream; err: NodeJS.WritableStream };
const SUBS = ['add', 'list', 'remove', 'pause', 'resume'];

export async function firmwareCommand(argv: string[], io: Out = { out: process.stdout, err: process.stderr }): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { config: { type: 'string', short: 'c' }, version: { type: 'string' }, group: { type: 'string', multiple: true }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  } catch (err) {
    io.err.write(`iotgw firmware: ${(err as Error).message}\n${FIRMWARE_USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.out.write(`${FIRMWARE_USAGE}\n`);
    return 0;
  }
  const [sub, arg, ...extra] = positionals;
  const usage = (why: string): number => {
    io.err.write(`iotgw firmware: ${why}\n${FIRMWARE_USAGE}\n`);
    return 2;
  };
  if (!SUBS.includes(sub ?? '')) return usage(sub ? `unknown command "${sub}"` : 'a command is required');
  if (extra.length > 0) return usage(`unexpected argument "${extra[0]}"`);
  if (sub === 'list' && arg) return usage(`list takes no argument (got "${arg}")`);
  if (sub === 'add' && !arg) return usage('add needs the image file: iotgw firmware add FILE.bin --version V');
  if (sub === 'add' && !values.version) return usage('add needs --version V, the version built into the image (IOTGW_FW_VERSION)');
  if (sub !== 'add' && sub !== 'list' && !arg) return usage(`${sub} needs the version: iotgw firmware ${sub} V`);
  if (sub !== 'add' && (values.version || values.group)) return usage('--version and --group go with add');

  const config = loadConfigOrExitCode(values.config, io.err);
  if (typeof config === 'number') return config;
  const args: Record<string, unknown> = sub === 'add'
    ? { file: resolve(arg), version: values.version, groups: values.group ?? [] }
    : { version: arg };
  let result: unknown;
  let live: number | null = null;
  try {
    try {
      result = await adminCall(adminSocketPath(config.data_dir), `firmware.${sub}`, args);
      live = (result as { pid: number }).pid;
    } catch (err) {
      if (!(err instanceof DaemonNotRunning)) throw err;
      const store = new FirmwareStore(config.data_dir, () => config.firmware.max_image_bytes);
      const commands = new FirmwareCommands(store, new Rollout(store, () => config.firmware.max_failures, createLogger('silent')));
      result = sub === 'add' ? await commands.add(args) : sub === 'list' ? commands.list()
        : sub === 'remove' ? commands.remove(args) : sub === 'pause' ? commands.pause(args) : commands.resume(args);
    }
  } catch (err) {
    return refused(err, io);
  }
  if (sub === 'list') {
    const { images } = result as { images: ImageView[] };
    io.out.write(values.json ? `${JSON.stringify({ images })}\n` : formatList(images, live));
    return 0;
  }
  const { image } = result as { image: ImageView };
  const when = live !== null ? `the running daemon (pid ${live}) took the change: boards see it with their next acknowledgement` : 'no daemon is running: the change applies when iotgw starts';
  const targets = image.groups ? `group${image.groups.length > 1 ? 's' : ''} ${image.groups.join(', ')}` : 'every board';
  const what = {
    add: `published ${image.version} (${image.size} bytes, sha256 ${image.sha256}) for ${targets}`,
    remove: `removed ${image.version}; its boards are offered the image published before it for them, if any`,
    pause: `paused ${image.version}: no board is offered it until \`iotgw firmware resume ${image.version}\``,
    resume: `resumed ${image.version} for ${targets}; boards that had rolled back or kept failing are offered it again`,
  }[sub as 'add' | 'remove' | 'pause' | 'resume'];
  io.out.write(`${what}\n${when}.\n`);
  for (const w of (result as { warnings?: string[] }).warnings ?? []) io.err.write(`warning: ${w}\n`);
  if (sub === 'add' && image.rollout === 'superseded') io.err.write(`note: a newer image targets all of its boards, so ${image.version} is offered to none\n`);
  return 0;
}

function refused(err: unknown, io: Out): number {
  if (err instanceof AdminCommandError || err instanceof GatewayError || err instanceof CatalogueError) {
    const code = (err as { code?: string }).code;
    io.err.write(`iotgw firmware: ${err.message}${code ? ` [${code}]` : ''}\n`);
    return 1;
  }
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'EACCES' || code === 'EPERM') {
    io.err.write(`iotgw firmware: ${(err as Error).message}: run it as root (sudo) or as the daemon's user\n`);
    return 1;
  }
  throw err;
}

function formatList(images: ImageView[], live: number | null): string {
  const lines = [live !== null ? `(as the running daemon, pid ${live}, sees them)` : '(from the data dir; no daemon is running, so no device counts)'];
  if (images.length === 0) lines.push('no firmware published');
  else {
    const header = ['VERSION', 'TARGETS', 'ROLLOUT', 'SIZE', 'SHA256', 'ADDED'];
    if (live !== null) header.push('RUNNING', 'PENDING', 'DOWNLOADING', 'FAILED', 'UPDATED', 'ROLLED_BACK');
    const rows = [header, ...images.map((i) => {
      const row = [i.version, i.groups?.join(',') ?? 'all', i.rollout, String(i.size), i.sha256.slice(0, 12), i.added_at.slice(0, 19)];
      if (i.devices) row.push(...[i.devices.running, i.devices.pending, i.devices.downloading, i.devices.failed, i.devices.updated, i.devices.rolled_back].map(String));
      return row;
    })];
    const widths = header.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
    for (const r of rows) lines.push(r.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd());
    for (const i of images) {
      const refused = Object.entries(i.refused);
      if (i.damaged) lines.push(`${i.version}: DAMAGED on the gateway (${i.damaged}); remove it and add it again`);
      if (refused.length > 0) lines.push(`${i.version}: not offered again to ${refused.map(([d, why]) => `${d} (${why})`).join(', ')}; \`iotgw firmware resume ${i.version}\` offers it again`);
    }
  }
  return `${lines.join('\n')}\n`;
}
