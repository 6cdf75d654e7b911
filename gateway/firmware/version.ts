/**
 * Firmware versions as the board's core accepts them (firmware/lib/iotgw_core/src/version.cpp):
 * semantic versions of at most 31 characters. A version the board would refuse is refused at
 * `iotgw firmware add`, not discovered when no board ever takes the offer.
 */
export const VERSION_MAX = 31;
const NUM = '(?:0|[1-9][0-9]*)';
const PRE_ID = '(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)';
const BUILD_ID = '[0-9A-Za-z-]+';
const SEMVER = new RegExp(`^${NUM}\\.${NUM}\\.${NUM}(?:-${PRE_ID}(?:\\.${PRE_ID})*)?(?:\\+${BUILD_ID}(?:\\.${BUILD_ID})*)?$`);

export function validVersion(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= VERSION_MAX && SEMVER.test(v);
}

/** Group names follow the readings' `group_id` rule (ingest/validate.ts). */
const GROUP = /^[A-Za-z0-9._:-]{1,64}$/;
export const validGroup = (g: unknown): g is string => typeof g === 'string' && GROUP.test(g);
