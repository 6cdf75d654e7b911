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
 * never waits for a first connection, and a query is bounded by `timeoutMs`.
 */
export interface GroupRoutesOptions {
  timeoutMs?: number;
}

export function registerGroupRoutes(app: FastifyInstance, atlas: AtlasClient, opts: GroupRoutesOptions = {}): void {
  const timeoutMS = opts.timeoutMs ?? 5000;

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
      const groups = await db.collection('device_groups').find({}, { projection: { _id: 0 }, sort: { group_id: 1 }, timeoutMS }).toArray();
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
      group = await db.collection('device_groups').findOne({ group_id: request.params.id }, { projection: { _id: 0 }, timeoutMS });
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
