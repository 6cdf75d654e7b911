// Preloaded into a gateway by bench/alloc-profile.ts. SIGUSR2 starts V8's sampling heap profiler
// with the objects that minor and major GCs already collected kept in the profile (so it counts
// what was allocated, not what survived); the next SIGUSR2 stops it and writes
// $IOTGW_BENCH_HEAP_OUT.
import { Session } from 'node:inspector';
import { writeFileSync, renameSync } from 'node:fs';

const out = process.env.IOTGW_BENCH_HEAP_OUT;
if (out) {
  const session = new Session();
  session.connect();
  let running = false;
  process.on('SIGUSR2', () => {
    running = !running;
    if (running) {
      session.post('HeapProfiler.startSampling', { samplingInterval: 256, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
      return;
    }
    session.post('HeapProfiler.stopSampling', (err, res) => {
      if (err) return;
      writeFileSync(`${out}.tmp`, JSON.stringify(res.profile));
      renameSync(`${out}.tmp`, out);
    });
  });
}
