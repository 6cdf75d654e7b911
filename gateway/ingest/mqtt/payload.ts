import { GatewayError } from '../../errors.ts';
import { batchItems } from '../validate.ts';
import type { TopicIds } from './topic.ts';

/**
 * A PUBLISH payload as the body `POST /telemetry` would take: one reading, an array, or
 * `{"readings": [...]}`, as JSON text. The topic's ids fill what a reading leaves out (many MQTT
 * sketches name the device only in the topic); a reading that names another device or group than
 * its topic is refused, so a topic always tells the truth about what was published to it.
 */
export function payloadBody(payload: Buffer, ids: TopicIds, maxBatch: number): unknown {
  let body: unknown;
  try {
    body = JSON.parse(payload.toString('utf8'));
  } catch (err) {
    throw new GatewayError('invalid_json', `payload is not valid JSON: ${(err as Error).message}`, 400);
  }
  const fields = Object.entries(ids) as [string, string][];
  if (fields.length === 0) return body;
  const { items, prefix } = batchItems(body, maxBatch);
  items.forEach((item, i) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) return; // validation names it
    const reading = item as Record<string, unknown>;
    for (const [field, value] of fields) {
      if (reading[field] === undefined) reading[field] = value;
      else if (reading[field] !== value) {
        const path = prefix(i) ? `${prefix(i)}.${field}` : field;
        throw new GatewayError('topic_mismatch', `${path}: ${JSON.stringify(reading[field])} is not the topic's ${field} "${value}"`, 400, path);
      }
    }
  });
  return body;
}
