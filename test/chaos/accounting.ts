import assert from 'node:assert/strict';
import { MongoClient } from 'mongodb';
import { storedReadingIds, countById } from '../support/buffer-inspect.ts';
import type { Fleet } from './fleet.ts';

export interface Accounting {
  scenario: string;
  produced: number;
  acked: number;
  /** Acknowledged readings found in the local stores (SQLite, Redis), read from their files and lists. */
  local: number;
  /** Acknowledged readings found in Atlas (`group_hours` `_rid`s of this gateway). */
  atlas: number;
  /** Acknowledged but nowhere: must be 0. */
  missing: string[];
  /** Held more than once over local stores and Atlas together: must be 0. */
  duplicated: string[];
  /** Stored but never acknowledged (the ack was lost with a killed gateway): allowed, the board retried them. */
  unacked_stored: number;
  /** Acknowledged readings the scenario destroyed on purpose and expects in quarantine. */
  expected_lost: number;
  /** What the gateway itself still counts as queued for upload (`/stats` upload.queued_readings), if given. */
  queued_by_gateway?: number;
  /** From the last gateway's /metrics: readings dropped by reason, records quarantined by store. */
  dropped: Record<string, number>;
  quarantined: Record<string, number>;
  answers: Record<string, number>;
}

/** `name{label="x"} n` lines of a Prometheus text, as {x: n}. */
export function metricByLabel(text: string, name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of text.matchAll(new RegExp(`^${name}\\{${label}="([^"]+)"\\} (\\S+)$`, 'gm'))) out[m[1]] = Number(m[2]);
  return out;
}

async function atlasRids(mongo: { uri: string; database: string; gatewayId: string }): Promise<string[]> {
  const client = new MongoClient(mongo.uri, { serverSelectionTimeoutMS: 5000 });
  try {
    const parts = await client.db(mongo.database).collection('group_hours').find({ gateway_id: mongo.gatewayId }, { projection: { 'readings._rid': 1 } }).toArray();
    return parts.flatMap((p) => (p.readings as { _rid: string }[]).map((r) => r._rid));
  } finally {
    await client.close();
  }
}

/** The value of an unlabelled series, or undefined. */
export function metricValue(text: string, name: string): number | undefined {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

export interface AccountOptions {
  scenario: string;
  fleet: Fleet;
  sqlitePath: string;
  redisUrl?: string;
  mongo?: { uri: string; database: string; gatewayId: string };
  /** The last gateway: its /metrics and /stats are read when the accounting is made. */
  gateway?: { get(path: string): Promise<{ body: any }> };
  /** Ids the scenario corrupted on purpose (must be quarantined, not uploaded). */
  expectedLost?: Set<string>;
  /** Acknowledged ids that may stay local (a window not closed yet); the rest must reach Atlas. */
  mayStayLocal?: Set<string>;
}

/**
 * Waits until the stores and Atlas settle: every acknowledged reading (less those lost on purpose
 * or allowed to stay local) is in Atlas, and no id is both in Atlas and local any more (between
 * Atlas's ack and the local delete a reading is in both, by design). Then accounts. A reading
 * missing or held twice after `timeoutMs` is reported by the accounting, and fails the scenario.
 */
export async function settleAndAccount(o: AccountOptions & { mongo: NonNullable<AccountOptions['mongo']> }, timeoutMs = 120_000): Promise<Accounting> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [local, atlas] = await Promise.all([storedReadingIds({ sqlitePath: o.sqlitePath, redisUrl: o.redisUrl }), atlasRids(o.mongo)]);
    const inAtlas = new Set(atlas);
    const skip = new Set([...(o.expectedLost ?? []), ...(o.mayStayLocal ?? [])]);
    const waiting = [...o.fleet.acked.keys()].some((id) => !inAtlas.has(id) && !skip.has(id)) || local.some((id) => inAtlas.has(id));
    if (!waiting || Date.now() > deadline) return account(o);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * The full accounting of a scenario, from the stores' own contents and the upload (never from
 * `GET /devices/:id/readings`, which scans only the newest rows): every acknowledged reading is
 * stored or uploaded exactly once, and what is not is named. Printed as one line.
 */
export async function account(o: AccountOptions): Promise<Accounting> {
  const local = await storedReadingIds({ sqlitePath: o.sqlitePath, redisUrl: o.redisUrl });
  const atlas = o.mongo ? await atlasRids(o.mongo) : [];
  const metrics = o.gateway ? String((await o.gateway.get('/metrics')).body) : undefined;
  const stats = o.gateway ? (await o.gateway.get('/stats')).body : undefined;
  const all = countById([...local, ...atlas]);
  const lost = o.expectedLost ?? new Set<string>();
  const acked = o.fleet.acked;
  const result: Accounting = {
    scenario: o.scenario,
    produced: o.fleet.produced,
    acked: acked.size,
    local: local.filter((id) => acked.has(id)).length,
    atlas: atlas.filter((id) => acked.has(id)).length,
    missing: [...acked.keys()].filter((id) => !all.has(id) && !lost.has(id)),
    duplicated: [...all].filter(([, n]) => n > 1).map(([id, n]) => `${id} x${n}`),
    unacked_stored: [...all.keys()].filter((id) => id.startsWith('dev:') && !acked.has(id)).length,
    expected_lost: lost.size,
    queued_by_gateway: stats?.upload?.queued_readings,
    dropped: metrics ? metricByLabel(metrics, 'iotgw_readings_dropped_total', 'reason') : {},
    quarantined: metrics ? metricByLabel(metrics, 'iotgw_records_quarantined_total', 'store') : {},
    answers: o.fleet.answers,
  };
  const { missing, duplicated, ...summary } = result;
  process.stdout.write(`chaos accounting: ${JSON.stringify({ ...summary, missing: missing.length, duplicated: duplicated.length })}\n`);
  return result;
}

/** The contract: nothing acknowledged is missing, nothing is held twice, and no reading was refused as bad input. */
export function assertExactlyOnce(a: Accounting, fleet: Fleet): void {
  assert.deepEqual(fleet.refused, [], 'no batch of the fleet was refused as bad input');
  assert.equal(a.missing.length, 0, `acknowledged but missing: ${a.missing.slice(0, 5).join(', ')}`);
  assert.equal(a.duplicated.length, 0, `held more than once: ${a.duplicated.slice(0, 5).join(', ')}`);
  assert.ok(a.acked > 0 && a.acked === a.produced, `every produced reading was acknowledged in the end (${a.acked}/${a.produced})`);
}
