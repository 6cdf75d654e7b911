import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LatestThrottle, type LatestCandidate } from '../gateway/buffer/latest-throttle.ts';

const c = (device: string, at: number, key = ''): LatestCandidate => ({ device, at, json: `{"n":${at}}`, key });

test('LatestThrottle: one write per device per interval, then the newest waiting one', () => {
  let now = 1_000;
  const t = new LatestThrottle(1000, () => now);
  assert.deepEqual(t.take([c('a', 1, 'w/0'), c('b', 2)]).map((x) => x.device), ['a', 'b'], 'quiet devices at once');
  now += 10;
  assert.deepEqual(t.take([c('a', 3, 'w/1')]), [], 'a busy device waits');
  assert.deepEqual(t.take([c('a', 5), c('a', 4)]), []);
  assert.equal(t.waiting, 1);
  assert.equal(t.nextDueIn(), 990);
  assert.deepEqual(t.takeDue(), [], 'not before its interval');
  now += 990;
  assert.deepEqual(t.take([]), [], 'append calls never carry waiting entries');
  const due = t.takeDue();
  assert.deepEqual(due.map((x) => [x.device, x.at, x.key]), [['a', 5, '']], 'the newest of those that waited; its resend check is gone');
  assert.equal(t.nextDueIn(), null);
  now += 1;
  assert.deepEqual(t.take([c('a', 6)]), [], 'the interval counts from that trailing write');
  assert.deepEqual(t.drain().map((x) => x.at), [6], 'closing takes what waits, due or not');
  assert.equal(t.waiting, 0);
});

test('LatestThrottle: a write of a newer reading makes the waiting one moot; 0 turns it off', () => {
  let now = 0;
  const t = new LatestThrottle(100, () => now);
  t.take([c('a', 1)]);
  t.take([c('a', 2)]);
  now = 150;
  assert.deepEqual(t.take([c('a', 3)]).map((x) => x.at), [3]);
  assert.equal(t.waiting, 0);
  const off = new LatestThrottle(0, () => now);
  assert.equal(off.take([c('a', 1), c('b', 1)]).length, 2);
  assert.equal(off.take([c('a', 2)]).length, 1);
});
