// The common frame of the upload test files: one MongoDB for the file (the wire server, or
// MONGODB_URI), a driver client on it, a fresh database per test, and a harness per test.
import { after, before } from 'node:test';
import { MongoClient } from 'mongodb';
import { startMongoForTests, type MongoWireServer } from './mongo-server.ts';
import { HOUR, openHarness, type Harness } from './upload-driver.ts';

export interface UploadSuite {
  mongo: { uri: string; server?: MongoWireServer; stop(): Promise<void> };
  client: MongoClient;
  /** A database name no other test of the run uses. */
  freshDb(): string;
  /** A harness on a fresh database for one test: the server's stats reset first, its faults reset and the harness removed after. */
  withHarness(fn: (h: Harness, db: string) => Promise<void>, opts?: { overrides?: Record<string, unknown>; redisUrl?: string }): Promise<void>;
}

/** Registers the file's before/after hooks; the fields are set once `before` ran. */
export function uploadSuite(prefix: string, opts: { replicaSet?: string } = {}): UploadSuite {
  let seq = 0;
  const suite: UploadSuite = {
    mongo: undefined as unknown as UploadSuite['mongo'],
    client: undefined as unknown as MongoClient,
    freshDb: () => `iotgw_${prefix}_${process.pid}_${++seq}`,
    withHarness: async (fn, o = {}) => {
      const db = suite.freshDb();
      const h = await openHarness({ mongoUri: suite.mongo.uri, database: db, ...o });
      suite.mongo.server?.resetStats();
      try {
        await fn(h, db);
      } finally {
        suite.mongo.server?.faults.reset();
        await h.cleanup();
      }
    },
  };
  before(async () => {
    suite.mongo = await startMongoForTests(opts);
    suite.client = new MongoClient(suite.mongo.uri);
  });
  after(async () => {
    await suite.client.close();
    await suite.mongo.stop();
  });
  return suite;
}

/** The start of the hour `n` hours before this one (a closed window with the default window_seconds). */
export const hourAgo = (n: number): number => Math.floor(Date.now() / HOUR) * HOUR - n * HOUR;
