import { GatewayError } from '../errors.ts';
import type { ImageEntry, RefusalReason } from './catalogue.ts';
import type { FirmwareStore } from './image-store.ts';
import type { Rollout } from './rollout.ts';
import type { FirmwareState } from '../inventory/types.ts';

/** Device counts of one image, from the inventory (only when the daemon answers: it holds the inventory). */
export type ImageDeviceCounts = Record<FirmwareState | 'running', number>;

/** One image as `GET /firmware` and `iotgw firmware list` show it. */
export interface ImageView {
  version: string;
  sha256: string;
  size: number;
  /** null: every board. */
  groups: string[] | null;
  added_at: string;
  /**
   * `active`: offered to the boards it targets that run something else; `paused`; `superseded`:
   * a newer image targets all of its boards, so it is offered to none.
   */
  rollout: 'active' | 'paused' | 'superseded' | 'damaged';
  /** Why the gateway's copy is damaged (`rollout: damaged`), else null. */
  damaged: string | null;
  /** Boards not offered it again, and why (cleared by `resume`). */
  refused: Record<string, RefusalReason>;
  devices?: ImageDeviceCounts;
}

export function imageView(e: ImageEntry, rollout: Rollout, devices?: ImageDeviceCounts): ImageView {
  const targeted = e.groups === null ? rollout.allTarget() === e : e.groups.some((g) => rollout.target(g) === e);
  const view: ImageView = {
    version: e.version, sha256: e.sha256, size: e.size, groups: e.groups, added_at: e.added_at,
    rollout: e.damaged ? 'damaged' : e.paused ? 'paused' : targeted ? 'active' : 'superseded', damaged: e.damaged ?? null, refused: { ...e.refused },
  };
  if (devices) view.devices = devices;
  return view;
}

/**
 * The firmware commands, the same whether the daemon runs them (admin socket: live at once) or
 * the CLI runs them on the data dir itself (no daemon: they apply when it starts).
 */
export class FirmwareCommands {
  constructor(private readonly store: FirmwareStore, private readonly rollout: Rollout, private readonly counts: ((version: string) => ImageDeviceCounts) | null = null) {}

  async add(args: Record<string, unknown>): Promise<{ image: ImageView; warnings: string[] }> {
    const file = requireString(args.file, 'file');
    const version = requireString(args.version, 'version');
    const groups = args.groups === undefined || args.groups === null ? [] : args.groups;
    if (!Array.isArray(groups) || groups.some((g) => typeof g !== 'string')) throw new GatewayError('invalid_group', 'groups: must be a list of group names', 400, 'group');
    const { warnings, ...entry } = await this.store.add({ file, version, groups: groups as string[] });
    return { image: this.view(this.store.find(entry.version) ?? entry), warnings };
  }

  list(): { images: ImageView[] } {
    return { images: [...this.store.images].sort((a, b) => b.published_seq - a.published_seq).map((e) => this.view(e)) };
  }

  remove(args: Record<string, unknown>): { image: ImageView } {
    const entry = this.store.remove(requireString(args.version, 'version'));
    return { image: { ...imageView(entry, this.rollout), rollout: 'superseded' } };
  }

  pause(args: Record<string, unknown>): { image: ImageView } {
    return { image: this.view(this.store.pause(requireString(args.version, 'version'))) };
  }

  resume(args: Record<string, unknown>): { image: ImageView } {
    return { image: this.view(this.store.resume(requireString(args.version, 'version'))) };
  }

  private view(e: ImageEntry): ImageView {
    return imageView(e, this.rollout, this.counts?.(e.version));
  }
}

function requireString(v: unknown, name: string): string {
  if (typeof v !== 'string' || v === '') throw new GatewayError('invalid_field', `${name}: is required`, 400, name);
  return v;
}
