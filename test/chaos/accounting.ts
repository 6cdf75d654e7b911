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

/**
 * Waits until every acknowledged reading (less those lost on purpose) is in Atlas: the windows
 * close within the window length and leave with the next pass. Judged from Atlas itself, not
 * from the gateway's queue counts (a window holding only dead copies stays counted there).
 */
export async function waitUploaded(fleet: Fleet, mongo: { uri: string; database: string; gatewayId: string }, expectedLost = new Set<string>(), timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const have = new Set(await atlasRids(mongo));
    const left = [...fleet.acked.keys()].filter((id) => !have.has(id) && !expectedLost.has(id));
    if (left.length === 0) return;
    if (Date.now() > deadline) return; // the accounting names what is missing
    await new Promise((r) => setTimeout(r, 500));
  }
}

export interface AccountOptions {
  scenario: string;
  fleet: Fleet;
  sqlitePath: string;
  redisUrl?: string;
  mongo?: { uri: string; database: string; gatewayId: string };
  /** The gateway's /metrics text at the end. */
  metrics?: string;
  /** Ids the scenario corrupted on purpose (must be quarantined, not uploaded). */
  expectedLost?: Set<string>;
  /** The gateway's `/stats` body at the end. */
  stats?: { upload?: { queued_readings?: number } };
}

/**
 * The full accounting of a scenario, from the stores' own contents and the upload (never from
 * `GET /devices/:id/readings`, which scans only the newest rows): every acknowledged reading is
 * stored or uploaded exactly once, and what is not is named. Printed as one line.
 */
export async function account(o: AccountOptions): Promise<Accounting> {
  const local = await storedReadingIds({ sqlitePath: o.sqlitePath, redisUrl: o.redisUrl });
  const atlas = o.mongo ? await atlasRids(o.mongo) : [];
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
    queued_by_gateway: o.stats?.upload?.queued_readings,
    dropped: o.metrics ? metricByLabel(o.metrics, 'iotgw_readings_dropped_total', 'reason') : {},
    quarantined: o.metrics ? metricByLabel(o.metrics, 'iotgw_records_quarantined_total', 'store') : {},
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
