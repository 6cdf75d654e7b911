import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeviceClocks } from '../gateway/ingest/device-clocks.ts';

const SKEW = 300_000;
const HOUR = 3_600_000;

/** A steady clock and a wall clock the test moves, as a stepped system clock moves. */
function clocks() {
  const c = { steady: 1_000_000_000_000, step: 0 };
  const dc = new DeviceClocks(() => SKEW, () => c.steady, () => c.steady + c.step);
  const send = (device: string, ts: number) => dc.observe([{ device_id: device, doc: { ts } }]);
  return { c, dc, send };
}

test('boards that agree with the gateway, or too few boards, leave its clock alone', () => {
  const { c, dc, send } = clocks();
  send('a', c.steady + 1000);
  send('b', c.steady - 2000);
  send('c', c.steady + 500);
  assert.equal(dc.offsetMs(), 0, 'within the skew');
  const few = clocks();
  few.send('a', few.c.steady + HOUR);
  few.send('b', few.c.steady + HOUR);
  assert.equal(few.dc.offsetMs(), 0, 'two boards are no quorum');
});

test('one board with a wrong clock is outvoted; a quorum that agrees corrects the gateway at once after a step', () => {
  const { c, dc, send } = clocks();
  for (const d of ['a', 'b', 'c', 'd']) send(d, c.steady);
  send('wild', c.steady + 10 * HOUR);
  assert.equal(dc.offsetMs(), 0);
  c.step = -HOUR; // the gateway's wall clock steps an hour back; the boards said nothing new yet
  c.steady += 1500;
  assert.equal(Math.round(dc.offsetMs() / 1000), 3600, 'the correction follows the step without new reports');
  c.step = 0;
  assert.equal(dc.offsetMs(), 0);
});

test('boards that disagree among themselves give no verdict', () => {
  const { c, dc, send } = clocks();
  send('a', c.steady + HOUR);
  send('b', c.steady + 2 * HOUR);
  send('c', c.steady + 3 * HOUR);
  assert.equal(dc.offsetMs(), 0);
});
