import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AckedLedger } from '../gateway/buffer/acked-ledger.ts';

const T0 = Date.UTC(2026, 11, 5, 2, 0, 0);

test('AckedLedger: a board sending in order is one interval; retries are known, others not', () => {
  const l = new AckedLedger();
  for (let s = 0; s < 120; s++) assert.equal(l.add('esp-1', 'b1', s, T0 + s), true);
  assert.equal(l.add('esp-1', 'b1', 7, T0), false, 'a retry is not new');
  assert.equal(l.has('esp-1', 'b1', 0), true);
  assert.equal(l.has('esp-1', 'b1', 119), true);
  assert.equal(l.has('esp-1', 'b1', 120), false);
  assert.equal(l.has('esp-1', 'b2', 5), false, 'another boot of the same device is another record');
  assert.equal(l.has('esp-2', 'b1', 5), false, 'another device');
  assert.deepEqual(l.stats(), { devices: 1, boots: 1, intervals: 1 });
  assert.equal(l.serialize('esp-1'), `b1/${Math.floor((T0 + 119) / 1000).toString(36)}/0/0~3b`);
  assert.equal(l.serialize('nobody'), '');
});

test('AckedLedger: interleaved requests leave gaps that close when the missing seqs arrive', () => {
  const l = new AckedLedger();
  l.addAll('d', 'b', [0, 1, 2, 5, 6, 9], T0);
  assert.deepEqual(l.stats().intervals, 3);
  assert.equal(l.has('d', 'b', 3), false);
  assert.equal(l.has('d', 'b', 8), false);
  assert.equal(l.addAll('d', 'b', [3, 4, 7, 8, 8, 6], T0), 4, 'two were known, one repeated in the batch');
  assert.deepEqual(l.stats().intervals, 1);
  for (let s = 0; s <= 9; s++) assert.equal(l.has('d', 'b', s), true, `seq ${s}`);
});

test('AckedLedger: remove takes a failed write back out, splitting an interval', () => {
  const l = new AckedLedger();
  l.addAll('d', 'b', [0, 1, 2, 3, 4], T0);
  l.remove('d', 'b', 2);
  l.remove('d', 'b', 0);
  l.remove('d', 'b', 4);
  l.remove('d', 'b', 9);
  l.remove('x', 'b', 1);
  assert.deepEqual([0, 1, 2, 3, 4].map((s) => l.has('d', 'b', s)), [false, true, false, true, false]);
  l.remove('d', 'b', 1);
  l.remove('d', 'b', 3);
  assert.equal(l.stats().intervals, 0);
  assert.equal(l.serialize('d').endsWith('/0/'), true, 'the boot stays, empty');
});

test('AckedLedger: serialize and merge round-trip; merge unites two stores\' records', () => {
  const a = new AckedLedger();
  a.addAll('d', 'boot.1:x-y_z', [0, 1, 2, 10, 11, 40], T0);
  a.add('d', 'b2', 1_000_000, T0 + 5000);
  const text = a.serialize('d');
  const b = new AckedLedger();
  b.merge('d', text);
  assert.equal(b.serialize('d'), text);
  // The other store acknowledged other seqs of the same boot, and a later one.
  const c = new AckedLedger();
  c.addAll('d', 'boot.1:x-y_z', [3, 4, 5, 6, 7, 8, 9, 41], T0 + 60_000);
  b.merge('d', c.serialize('d'));
  for (const s of [0, 5, 9, 10, 11, 40, 41]) assert.equal(b.has('d', 'boot.1:x-y_z', s), true, `seq ${s}`);
  assert.equal(b.has('d', 'boot.1:x-y_z', 12), false);
  assert.equal(b.stats().intervals, 3, '[0,11] [40,41] and b2');
  assert.match(b.serialize('d'), new RegExp(`^boot\\.1:x-y_z/${Math.floor((T0 + 60_000) / 1000).toString(36)}/`), 'the later acknowledgement is kept');
  b.merge('d', '');
  assert.throws(() => b.merge('d', 'b/zz/0'), /boot entry "b\/zz\/0"/);
  assert.throws(() => b.merge('d', 'b/zz/0/5~2'), /ends before it starts/);
  assert.throws(() => b.merge('d', 'b/zz/0/1,x!'), /"x!" is not a base-36 number/);
});

test('AckedLedger: forget drops boots not acknowledged since the cut-off, and empty devices', () => {
  const l = new AckedLedger();
  l.add('old', 'b', 1, T0);
  l.add('mixed', 'gone', 1, T0);
  l.add('mixed', 'kept', 1, T0 + 10_000);
  assert.equal(l.forget(T0 + 5_000), 2);
  assert.deepEqual([...l.devices()], ['mixed']);
  assert.equal(l.has('mixed', 'kept', 1), true);
  assert.equal(l.has('mixed', 'gone', 1), false);
  assert.equal(l.isForgotten('mixed', 'gone', 1), false, 'forgotten by age is outside the window, not counted here');
});

test('AckedLedger: at the interval bound the lowest interval is forgotten, never merged across a gap', () => {
  const l = new AckedLedger({ maxIntervalsPerBoot: 3 });
  l.addAll('d', 'b', [0, 2, 4, 6], T0); // four single-seq intervals, one too many
  assert.equal(l.intervalsEvicted, 1);
  assert.equal(l.has('d', 'b', 0), false);
  assert.equal(l.isForgotten('d', 'b', 0), true, 'a retry of seq 0 may be a duplicate: the caller counts it');
  assert.equal(l.has('d', 'b', 1), false, 'the gap was never acknowledged');
  assert.equal(l.isForgotten('d', 'b', 1), false, 'and is not reported as forgotten: only below the lowest kept interval');
  assert.equal(l.isForgotten('d', 'b', 3), false, 'a gap above the floor is plainly unacknowledged');
  assert.deepEqual([2, 4, 6].map((s) => l.has('d', 'b', s)), [true, true, true]);
  const copy = new AckedLedger({ maxIntervalsPerBoot: 3 });
  copy.merge('d', l.serialize('d'));
  assert.equal(copy.isForgotten('d', 'b', 0), true, 'the floor survives serialization');
});

test('AckedLedger: at the boot bound the least recently acknowledged boot is evicted and a retry of it is flagged', () => {
  const l = new AckedLedger({ maxBootsPerDevice: 2 });
  l.addAll('d', 'b1', [0, 1, 2], T0);
  l.addAll('d', 'b2', [0, 1], T0 + 1000);
  l.add('d', 'b1', 3, T0 + 2000); // b1 acknowledged more recently than b2
  l.add('d', 'b3', 0, T0 + 3000);
  assert.equal(l.bootsEvicted, 1);
  assert.equal(l.has('d', 'b2', 0), false);
  assert.equal(l.isForgotten('d', 'b2', 1), true);
  assert.equal(l.isForgotten('d', 'b2', 2), false, 'above what b2 had acknowledged');
  assert.equal(l.has('d', 'b1', 3), true);
  assert.equal(l.stats().boots, 2);
  // b2 comes back: its old range stays flagged, new seqs are plainly new.
  l.add('d', 'b2', 5, T0 + 4000);
  assert.equal(l.isForgotten('d', 'b2', 1), true);
  assert.equal(l.isForgotten('d', 'b2', 6), false);
});

test('AckedLedger: property: has() agrees with a set of everything added and not removed (within the bounds)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ op: fc.constantFrom('add', 'add', 'add', 'remove', 'roundtrip'), boot: fc.constantFrom('a', 'b', 'c'), seq: fc.nat(60) }), { maxLength: 300 }),
      (ops) => {
        const l = new AckedLedger({ maxIntervalsPerBoot: 1000, maxBootsPerDevice: 10 });
        let ledger = l;
        const model = new Set<string>();
        for (const { op, boot, seq } of ops) {
          const key = `${boot}/${seq}`;
          if (op === 'add') assert.equal(ledger.add('d', boot, seq, T0), !model.has(key));
          if (op === 'add') model.add(key);
          if (op === 'remove') {
            ledger.remove('d', boot, seq);
            model.delete(key);
          }
          if (op === 'roundtrip') {
            const next = new AckedLedger({ maxIntervalsPerBoot: 1000, maxBootsPerDevice: 10 });
            next.merge('d', ledger.serialize('d'));
            ledger = next;
          }
        }
        for (const boot of ['a', 'b', 'c']) for (let s = 0; s <= 61; s++) assert.equal(ledger.has('d', boot, s), model.has(`${boot}/${s}`), `${boot}/${s}`);
        // Intervals are canonical: no two touch.
        const text = ledger.serialize('d');
        for (const part of text ? text.split(';') : []) {
          const ranges = part.split('/')[3];
          const bounds = ranges ? ranges.split(',').map((r) => r.split('~').map((x) => parseInt(x, 36))) : [];
          for (let i = 1; i < bounds.length; i++) assert.ok(bounds[i][0] > bounds[i - 1][bounds[i - 1].length - 1] + 1, `canonical: ${part}`);
        }
      },
    ),
    { numRuns: 300 },
  );
});

test('AckedLedger: property: with small bounds nothing unacknowledged is ever reported as acknowledged', () => {
  fc.assert(
    fc.property(fc.array(fc.record({ boot: fc.constantFrom('a', 'b', 'c', 'd'), seq: fc.nat(40) }), { maxLength: 200 }), (adds) => {
      const l = new AckedLedger({ maxIntervalsPerBoot: 2, maxBootsPerDevice: 2 });
      const model = new Set<string>();
      let t = T0;
      for (const { boot, seq } of adds) {
        l.add('d', boot, seq, (t += 1000));
        model.add(`${boot}/${seq}`);
      }
      assert.ok(l.stats().boots <= 2 && l.stats().intervals <= 4, 'bounded');
      for (const boot of ['a', 'b', 'c', 'd']) {
        for (let s = 0; s <= 41; s++) {
          const key = `${boot}/${s}`;
          if (l.has('d', boot, s)) assert.ok(model.has(key), `${key} reported acknowledged but never added (a loss)`);
          else if (model.has(key)) assert.ok(l.isForgotten('d', boot, s), `${key} was added, is not held, and is not flagged: a silent duplicate`);
        }
      }
    }),
    { numRuns: 500 },
  );
});

test('recordsWith: the durable record plus one write\'s seqs, per device, without touching the durable one', async () => {
  const { recordsWith } = await import('../gateway/buffer/acked-ledger.ts');
  const durable = new AckedLedger();
  durable.addAll('a', 'b1', [0, 1, 2], T0);
  const keys: [string, string, number][] = [['a', 'b1', 3], ['c', 'b9', 7], ['a', 'b2', 0], ['a', 'b1', 4]];
  const out = recordsWith(durable, (visit) => { for (const [d, b, s] of keys) visit(d, b, s); }, T0 + 1000);
  assert.deepEqual(out.map(([d]) => d), ['a', 'c']);
  const back = new AckedLedger();
  for (const [d, rec] of out) back.merge(d, rec);
  assert.deepEqual([0, 1, 2, 3, 4].map((s) => back.has('a', 'b1', s)), [true, true, true, true, true]);
  assert.equal(back.has('a', 'b2', 0), true);
  assert.equal(back.has('c', 'b9', 7), true);
  assert.equal(durable.has('a', 'b1', 3), false, 'the durable record is unchanged');
  assert.equal(durable.hasDevice('c'), false);
  assert.deepEqual(recordsWith(durable, () => undefined, T0), []);
});

test('recordsWith: earlier writes count only for the devices this write names', async () => {
  const { recordsWith } = await import('../gateway/buffer/acked-ledger.ts');
  const durable = new AckedLedger();
  const out = recordsWith(durable, (visit) => visit('a', 'b', 5), T0, (visit) => { visit('a', 'b', 4); visit('z', 'b', 1); });
  assert.deepEqual(out.map(([d]) => d), ['a']);
  const back = new AckedLedger();
  back.merge('a', out[0][1]);
  assert.equal(back.has('a', 'b', 4), true);
  assert.equal(back.has('a', 'b', 5), true);
});
