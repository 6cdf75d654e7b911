import type { Logger } from '../log.ts';

/**
 * Crash-test hook, and nothing else: with `IOTGW_TEST_PAUSE_AT=<point>` the uploader logs
 * `{"msg":"test pause","at":"<point>"}` when it reaches that point and then waits forever, so a
 * test can SIGKILL the daemon exactly there. Points, in the order an upload reaches them:
 * - `before-write`: the manifest row is committed, nothing was sent to Atlas yet;
 * - `after-write`: the first write of parts was acknowledged; the one after it may be in flight,
 *   the rest are not written yet;
 * - `after-ack`: every part and device_groups acknowledged, the local readings not deleted yet.
 * (A write applied by Atlas whose ack never arrives is the wire server's `dropAfterWrite` fault.)
 * Unset, which is always the case in production, it costs one string comparison.
 */
export type PausePoint = 'before-write' | 'after-write' | 'after-ack';

const target = process.env.IOTGW_TEST_PAUSE_AT;

export async function testPause(point: PausePoint, log: Logger): Promise<void> {
  if (target !== point) return;
  log.warn({ at: point }, 'test pause');
  await new Promise<never>(() => { /* forever: the test kills the process */ });
}
