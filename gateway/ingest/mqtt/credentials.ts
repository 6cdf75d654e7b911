import { GatewayError } from '../../errors.ts';
import type { DeviceAuth } from '../auth.ts';

/**
 * The MQTT login: the username is the device id and the password its device key (or the site's
 * shared key, which may log in as any device). The rules are HTTP's (DeviceAuth): in
 * `ingest.auth.mode: keys` a valid key is required; in the open mode a board without a key may
 * connect, unless its device id has a key (`iotgw devices add`), which it must then send; a key
 * that is sent must be valid, and valid for the username's device. Throws `unauthorized`.
 *
 * Every reading published later is checked again by `Intake.accept` against the same key (its
 * group included), so a device key only ever speaks for its own device.
 */
export function checkMqttLogin(auth: DeviceAuth, username: string | undefined, password: string | null): void {
  auth.checkKnown(password);
  if (!password) {
    if (username && auth.hasKey(username)) throw new GatewayError('unauthorized', `device_id "${username}" has a key and must send it as the MQTT password`, 401);
    return;
  }
  if (auth.speaksFor(password, username ?? '')) return;
  throw new GatewayError('unauthorized', username ? `the device key is not valid for device_id "${username}"` : 'log in with the device id as the MQTT username', 401);
}
