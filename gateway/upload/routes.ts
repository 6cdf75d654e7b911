import type { FastifyInstance, FastifyReply } from 'fastify';
import type { AtlasClient } from './atlas.ts';
import { classify } from './errors.ts';

/**
 * `GET /groups` and `GET /groups/:id`, the original API's reads of `device_groups`, answered in
 * its shape (`{status: "success", count, groups}` / `{status: "success", group}`, no `_id`).
 * Dates are ISO 8601 strings (Flask printed them as RFC 1123; both parse as dates).
 *
 * Errors carry both the original shape (`status: "error"`, `message`) and the gateway's
 * `{error: {code, message}}`: 404 `not_found`; 503 with `Retry-After` and `atlas_not_configured`
 * (mongodb.uri unset) or `atlas_unavailable` (not connected yet, or the query failed). A request
 * never waits for a first connection, and a query is bounded by `timeoutMs`: here (driver 7.9
 * ignores a per-operation `timeoutMS`, and the client's socket timeout grows with a slow uplink,
 * see uplink.ts) and in Atlas (`maxTimeMS`).
 */
export interface GroupRoutesOptions {
  timeoutMs?: number;
}

export function registerGroupRoutes(app: FastifyInstance, atlas: AtlasClient, opts: GroupRoutesOptions = {}): void {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const bounded = <T>(query: Promise<T>): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(Object.assign(new Error(`Atlas did not answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })), timeoutMs); });
    query.catch(() => undefined); // answered after the route gave up
    return Promise.race([query, late]).finally(() => clearTimeout(timer));
  };

  const unavailable = (reply: FastifyReply, reason?: string) => {
    if (!atlas.configured) {
      return fail(reply, 503, 'atlas_not_configured', 'group summaries live in MongoDB Atlas, and mongodb.uri is not configured on this gateway', 3600);
    }
    atlas.start(); // not connected yet: (re)try in the background, answer now
    const why = reason ?? atlas.lastError?.reason;
    return fail(reply, 503, 'atlas_unavailable', `MongoDB Atlas is not reachable from this gateway${why ? ` (${why})` : ''}; try again later`, 30);
  };

  app.get('/groups', async (_request, reply) => {
    const db = atlas.currentDb;
    if (!db) return unavailable(reply);
    try {
      const groups = await bounded(db.collection('device_groups').find({}, { projection: { _id: 0 }, sort: { group_id: 1 }, maxTimeMS: timeoutMs }).toArray());
      return { status: 'success', count: groups.length, groups };
    } catch (err) {
      atlas.markDown(err);
      return unavailable(reply, classify(err).reason);
    }
  });

  app.get<{ Params: { id: string } }>('/groups/:id', async (request, reply) => {
    const db = atlas.currentDb;
    if (!db) return unavailable(reply);
    let group;
    try {
      group = await bounded(db.collection('device_groups').findOne({ group_id: request.params.id }, { projection: { _id: 0 }, maxTimeMS: timeoutMs }));
    } catch (err) {
      atlas.markDown(err);
      return unavailable(reply, classify(err).reason);
    }
    if (!group) return fail(reply, 404, 'not_found', `Group not found: ${request.params.id}`);
    return { status: 'success', group };
  });
}

function fail(reply: FastifyReply, status: number, code: string, message: string, retryAfterSeconds?: number) {
  if (retryAfterSeconds !== undefined) reply.header('Retry-After', String(retryAfterSeconds));
  return reply.code(status).send({ status: 'error', message, error: { code, message } });
}
