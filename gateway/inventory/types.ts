/** What `GET /devices` and `GET /devices/:id` return for one device. Times are ISO 8601 UTC, null when unknown. */
export interface DeviceInfo {
  device_id: string;
  group_id: string | null;
  device_type: string | null;
  /** Addresses from the device's mDNS A/AAAA records and the source address of its readings, newest first. */
  addresses: string[];
  firmware: string | null;
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
