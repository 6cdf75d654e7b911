/**
 * What redis-server spends per reading on the gateway's append, apart from the gateway: the real
 * APPEND_LUA with calls of the sketch's readings as intake builds them (validate.ts +
 * redis-chunks.ts), with and without `latest` entries (what the throttle in latest-throttle.ts
 * leaves out), against a plain RPUSH of the same chunk (the floor: no Lua, no bookkeeping).
 * CPU is redis-server's own (utime + stime from /proc), each variant over 100k readings, against
 * its own redis-server with appendonly on (as deploy/ configures it) and off.
 *
 *   node --import tsx bench/redis-append-cost.ts
 */
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { TestRedis } from '../test/support/redis.ts';
import { APPEND_LUA } from '../gateway/buffer/redis-scripts.ts';
import { buildAppendCall } from '../gateway/buffer/redis-chunks.ts';
import type { Reading } from '../gateway/reading.ts';
import { batchBodies } from './lib/payload.ts';
import { intakeReadings } from './lib/intake.ts';

const READINGS = 100_000;
const bodies = batchBodies(50, 60);
const clkTck = 100;

function cpuMicros(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1e6) / clkTck;
}

function callers(perCall: number, i: number): { readings: Reading[] }[] {
  return Array.from({ length: perCall / 50 }, (_, k) => ({ readings: intakeReadings(JSON.parse(bodies[(i + k) % bodies.length])) }));
}

async function measure(appendonly: boolean): Promise<void> {
  const server = new TestRedis({ appendonly });
  await server.start();
  const pid = (server as unknown as { proc: { pid: number } }).proc.pid;
  const redis = new Redis(server.url);
  const sha = (await redis.script('LOAD', APPEND_LUA)) as string;
  const run = async (label: string, perCall: number, send: (c: { readings: Reading[] }[]) => Promise<unknown>): Promise<void> => {
    const before = cpuMicros(pid);
    for (let n = 0, i = 0; n < READINGS; n += perCall, i++) await send(callers(perCall, i));
    const us = (cpuMicros(pid) - before) / READINGS;
    process.stdout.write(`appendonly ${appendonly ? 'yes' : 'no '}  ${label.padEnd(34)} ${String(perCall).padStart(5)} per call  redis-server ${us.toFixed(2)} µs per reading\n`);
    await redis.flushall();
  };
  for (const perCall of [50, 200, 2000]) {
    await run('append script', perCall, (c) => redis.evalsha(sha, 0, ...buildAppendCall('iotgw:', c).args));
    await run('append script, no latest entries', perCall, (c) => redis.evalsha(sha, 0, ...buildAppendCall('iotgw:', c, () => []).args));
  }
  await run('plain RPUSH of the same chunk', 2000, (c) => redis.rpush('plain', buildAppendCall('iotgw:', c, () => []).args[3] as Buffer));
  redis.disconnect();
  await server.destroy();
}

await measure(true);
await measure(false);
