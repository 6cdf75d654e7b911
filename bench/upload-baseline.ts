/**
 * The upload baseline: the raw `mongodb` driver doing `insertMany` of the same reading documents
 * (10,000 per call, unordered, w: majority), with nothing else (no store to read, no grouping, no
 * bookkeeping). Run by bench/upload.ts in a child process, like the gateway's uploader:
 *   node --import tsx bench/upload-baseline.ts <uri> <readings> <devices>
 * prints `done {"readings":…, "documents":…}` and exits.
 */
import { MongoClient } from 'mongodb';
import { closedWindow, readingChunks } from './lib/upload-data.ts';

const [uri, total, devices] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const client = new MongoClient(uri, { appName: 'iotgw-bench-baseline' });
await client.connect();
const coll = client.db('iot_database').collection('readings_raw');
let documents = 0;
for (const chunk of readingChunks(total, devices, closedWindow())) {
  const docs = chunk.map((r) => ({ ...r.doc }));
  const res = await coll.insertMany(docs, { ordered: false, writeConcern: { w: 'majority' } });
  documents += res.insertedCount;
}
await client.close();
process.stdout.write(`done ${JSON.stringify({ readings: documents, documents })}\n`);
