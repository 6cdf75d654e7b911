import { GatewayError } from '../../errors.ts';
import type { Reading } from '../../reading.ts';
import type { DeviceAuth } from '../auth.ts';

/**
 * The MQTT login: the username is the device id and the password its device key (or the site's
 * shared key, which may log in as any device). Throws `unauthorized` with the reason.
 *
 * This is the one place MQTT asks "is this key good for this device?", so the device key store
 * (issue 19) replaces only this function; until then it asks `ingest.auth` through `DeviceAuth`.
 * Every reading published later is checked again by `Intake.accept` against the same key, so a
 * device key only ever speaks for its own device.
 */
export function checkMqttLogin(auth: DeviceAuth, username: string | undefined, password: string | null): void {
  if (!auth.required) return;
  if (!password) throw new GatewayError('unauthorized', 'a device key is required as the MQTT password (username: the device id)', 401);
  auth.checkKnown(password);
  try {
    // DeviceAuth checks a key against the device_id of readings; the login names one device.
    auth.checkReadings(password, [{ device_id: username ?? '' } as Reading]);
  } catch {
    throw new GatewayError('unauthorized', username ? `the device key is not valid for device_id "${username}"` : 'log in with the device id as the MQTT username', 401);
  }
}
