// Preloaded into a gateway by `npm run bench -- --cpu-prof DIR` (NODE_OPTIONS=--import ..., since
// --cpu-prof itself is not allowed in NODE_OPTIONS). SIGUSR2 starts the inspector's CPU profiler
// on the main thread; the next SIGUSR2 stops it and writes DIR/<name>-<pid>-<n>.cpuprofile. The
// bench sends them around each scenario's max phase, so a profile holds only that load.
import { Session } from 'node:inspector';
import { writeFileSync, mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.IOTGW_BENCH_CPU_PROF_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 250 });
  let running = false;
  let n = 0;
  process.on('SIGUSR2', () => {
    if (!running) {
      running = true;
      session.post('Profiler.start');
      return;
    }
    running = false;
    session.post('Profiler.stop', (err, res) => {
      if (err) return;
      mkdirSync(dir, { recursive: true });
      const file = join(dir, `${process.env.IOTGW_BENCH_CPU_PROF_NAME ?? 'node'}-${process.pid}-${++n}.cpuprofile`);
      writeFileSync(`${file}.tmp`, JSON.stringify(res.profile));
      renameSync(`${file}.tmp`, file);
    });
  });
}
