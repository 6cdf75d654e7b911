import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { SqliteStore } from '../gateway/buffer/sqlite-store.ts';
import { tempDir } from './support/ports.ts';
import { readAll } from './support/read-window.ts';

const T0 = Date.UTC(2026, 0, 1, 10);
const SIZE = 7;

/**
 * kill -9 of a writer whose group commits wait on time (group_commit_ms 250, far longer than an
 * fsync): at any moment a group is gathering, one may be committing and one fsyncing. Each
 * request is a batch of SIZE readings. After the kill: every acknowledged batch is there; a batch
 * that was not acknowledged is there whole or not at all (its readings share one row); none twice.
 */
test('kill -9 in the middle of a time-grouped commit: acknowledged is there, nothing half-written', async () => {
  const tmp = tempDir('iotgw-sqlite-kill-group-');
  const path = join(tmp.path, 'buffer.db');
  const script = `
    import { SqliteStore } from ${JSON.stringify(new URL('../gateway/buffer/sqlite-store.ts', import.meta.url).href)};
    const s = new SqliteStore({ path: ${JSON.stringify(path)}, groupCommitMs: 250, groupCommitMax: 1000 });
    await s.open();
    let b = 0;
    const send = () => {
      const id = b++;
      const rs = Array.from({ length: ${SIZE} }, (_, k) => ({ id: 'dev:d' + (id % 13) + '/boot/' + (id * ${SIZE} + k), device_id: 'd' + (id % 13), group_id: 'g', window: ${T0}, received_at: ${T0} + id, doc: { device_id: 'd' + (id % 13), group_id: 'g', batch: id, k } }));
      process.stdout.write('sent ' + id + '\\n');
      s.append(rs).then(() => process.stdout.write('acked ' + id + '\\n'));
    };
    setInterval(() => { for (let i = 0; i < 3; i++) send(); }, 4);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  let killed = false;
  const exited = new Promise((r) => child.once('exit', r));
  await new Promise<void>((resolve) => child.stdout!.on('data', (d) => {
    if (killed) return; // what the child printed after the kill was decided is not counted
    out += d;
    // Past a few groups, and at a moment when some sent batches wait for their group.
    const acked = (out.match(/acked/g) ?? []).length;
    const sent = (out.match(/sent/g) ?? []).length;
    if (acked >= 300 && sent - acked >= 20) {
      killed = true;
      child.kill('SIGKILL');
      resolve();
    }
  }));
  await exited;
  const acked = new Set((out.match(/acked (\d+)\n/g) ?? []).map((l) => Number(l.slice(6))));
  const sent = (out.match(/sent (\d+)\n/g) ?? []).map((l) => Number(l.slice(5)));
  assert.ok(sent.length - acked.size >= 20, 'the kill came while batches waited');

  const store = new SqliteStore({ path, checkpointer: false });
  await store.open();
  const perBatch = new Map<number, number>();
  const ids = new Set<string>();
  for (const r of await readAll(store, T0, 1000)) {
    assert.ok(!ids.has(r.id), `${r.id} stored twice`);
    ids.add(r.id);
    const batch = (r.doc as unknown as { batch: number }).batch;
    perBatch.set(batch, (perBatch.get(batch) ?? 0) + 1);
  }
  for (const b of acked) assert.equal(perBatch.get(b), SIZE, `acknowledged batch ${b} is whole`);
  for (const [b, n] of perBatch) assert.equal(n, SIZE, `batch ${b} is whole or absent`);
  const unacked = sent.filter((b) => !acked.has(b));
  assert.ok(unacked.some((b) => !perBatch.has(b)), 'some batch that was still waiting for its group is absent');
  assert.equal((await store.listWindows())[0].count, ids.size, 'the window figures agree with the rows after the crash');
  await store.close();
  tmp.cleanup();
});
