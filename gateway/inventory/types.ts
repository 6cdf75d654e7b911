/** What `GET /devices` and `GET /devices/:id` return for one device. Times are ISO 8601 UTC, null when unknown. */
export interface DeviceInfo {
  device_id: string;
  group_id: string | null;
  device_type: string | null;
  /** Addresses from the device's mDNS A/AAAA records and the source address of its readings, newest first. */
  addresses: string[];
  /** The running firmware and its update (docs/firmware-updates.md): always an object, its fields null when unknown. */
  firmware: FirmwareStatus;
  mac: string | null;
  first_seen: string;
  last_announcement: string | null;
  last_reading: string | null;
  readings_last_minute: number;
  state: DeviceState;
}

/** See `deviceState()` in state.ts for the precise rules. */
export type DeviceState = 'discovered' | 'online' | 'stale' | 'offline';
export const DEVICE_STATES: readonly DeviceState[] = ['discovered', 'online', 'stale', 'offline'];

/** A resolved `_iotgw-dev._tcp` instance, as the discovery browser reports it. */
export interface Announcement {
  /** TXT `id`: the device_id the board posts readings with. */
  id: string;
  group?: string | null;
  fw?: string | null;
  mac?: string | null;
  addresses: string[];
  /** SRV target, e.g. `esp32-a1b2.local`. */
  host?: string | null;
  port?: number | null;
  /** TTL of the record set in seconds, as announced. */
  ttl?: number | null;
}

export type FirmwareState = 'pending' | 'downloading' | 'failed' | 'updated' | 'rolled_back';
export const FIRMWARE_STATES: readonly FirmwareState[] = ['pending', 'downloading', 'failed', 'updated', 'rolled_back'];

/** A device's firmware as `GET /devices` shows it. */
export interface FirmwareStatus {
  /** The version the board runs: its readings' `fw`, else its mDNS `fw`. */
  version: string | null;
  /** The version the rollout wants it to run (paused or not), null when no image targets its group. */
  target: string | null;
  /** The update's state, null when there is none to tell (it runs its target, or has none). */
  state: FirmwareState | null;
  /** Why it failed or rolled back, as the board reported it. */
  reason: string | null;
  /** When the state was last reported (ISO 8601). */
  at: string | null;
  /** While downloading: bytes the gateway has sent of the image so far, and its size. */
  progress?: { bytes: number; size: number };
}

/** The last update event of a device (its `fw_update` report, or a download the gateway served). Times epoch ms. */
export interface FirmwareEvent {
  state: Exclude<FirmwareState, 'pending'>;
  version: string;
  reason: string | null;
  at: number;
  bytes?: number;
  size?: number;
}
