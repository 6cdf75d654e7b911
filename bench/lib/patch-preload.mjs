// EXPERIMENT ONLY (`npm run bench -- --gateway-patch autopipeline`): preloaded into the gateway to
// try a proposed fix without editing gateway code. `autopipeline` turns on ioredis's
// enableAutoPipelining for every client the gateway creates (what RedisStore.open() would pass),
// so the commands issued in one event-loop tick go out in one socket write.
import { Redis } from 'ioredis';

const patches = new Set((process.env.IOTGW_BENCH_PATCH ?? '').split(',').filter(Boolean));
if (patches.has('autopipeline')) {
  const connect = Redis.prototype.connect;
  Redis.prototype.connect = function patchedConnect(...args) {
    this.options.enableAutoPipelining = true;
    return connect.apply(this, args);
  };
}
