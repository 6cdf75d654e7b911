import type { Collection } from 'mongodb';
import type { Logger } from '../log.ts';
import type { ReadingStore, StoreKind } from '../buffer/store.ts';
import type { PartDoc } from './parts.ts';
import type { DeviceGroupDoc } from './device-groups.ts';
import type { UploadFailure } from './errors.ts';
import type { Manifest } from './manifest.ts';
import type { Quarantine } from './quarantine.ts';

/** Atlas (or the way to it) failed: the window stays queued and is replayed later. */
export class TransientUploadError extends Error {
  constructor(readonly failure: UploadFailure) {
    super(failure.reason);
  }
}

export class Abandoned extends Error {
  constructor() {
    super('upload abandoned: the gateway is stopping');
  }
}

export interface GroupSummary {
  group_id: string;
  readings: number;
  parts: number;
  /** Parts of the group Atlas refused (set aside in the quarantine). */
  refused: number;
}

export interface WindowReport {
  window: string;
  store: StoreKind;
  result: 'uploaded' | 'committed' | 'empty';
  readings: number;
  parts: number;
  deleted: number;
  stale_parts_removed: number;
  /** Readings left out because Atlas holds them in another part already (duplicate-guard.ts). */
  duplicates_dropped: number;
  /** Parts Atlas refused, set aside in the quarantine with their readings; the rest of the window went up. */
  quarantined: { parts: number; readings: number };
  groups: GroupSummary[];
  /** The first refusal's reason, when parts were quarantined. */
  error?: string;
}

export interface WindowUploadContext {
  gatewayId: string;
  windowMs: number;
  /** Part size for windows begun now; a window replays with the size its manifest recorded. */
  partMaxBytes: number;
  readPage: number;
  log: Logger;
  manifest: Manifest;
  quarantine: Quarantine;
  groupHours: () => Promise<Collection<PartDoc>>;
  deviceGroups: () => Promise<Collection<DeviceGroupDoc>>;
  store: (kind: StoreKind) => ReadingStore;
  stopping: () => boolean;
  now: () => number;
  onPartsAcked?: (parts: number) => void;
  /** A bulk write of about `bytes` ended after `ms`: acknowledged (`ok`) or failed (uplink.ts measures the uplink from these). */
  onWrite?: (bytes: number, ms: number, ok: boolean) => void;
}
