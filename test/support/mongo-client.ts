// The driver side of the wire-server tests (test/mongo-server*.test.ts): a client with short
// timeouts and a fresh server per test.
import { MongoClient, type Collection } from 'mongodb';
import { MongoWireServer, type MongoWireServerOptions } from './mongo-server.ts';

export const DB = 'iot_test';

// Test documents use numeric and string _ids, not only ObjectIds: untyped collections.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const col = (c: MongoClient, name: string): Collection<any> => c.db(DB).collection<any>(name);

export function client(uri: string, extra: Record<string, unknown> = {}): MongoClient {
  return new MongoClient(uri, { serverSelectionTimeoutMS: 5000, connectTimeoutMS: 5000, ...extra });
}

/** A fresh server and connected client per test, closed afterwards. */
export async function withServer(fn: (s: MongoWireServer, c: MongoClient) => Promise<void>, opts: MongoWireServerOptions = {}): Promise<void> {
  const s = new MongoWireServer(opts);
  await s.start();
  const c = client(s.uri);
  try {
    await c.connect();
    await fn(s, c);
  } finally {
    await c.close(true).catch(() => {});
    await s.stop();
  }
}
