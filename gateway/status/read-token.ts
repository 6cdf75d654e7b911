import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GatewayError } from '../errors.ts';

/**
 * Paths any client may GET without the read token: the health probes (monitors and load
 * balancers carry no token), the status page's own files (they hold no data, and the page must
 * load to ask for the token), and firmware images (boards fetch them with their device key, if any).
 */
const OPEN_PATHS = new Set(['/', '/health', '/healthz', '/readyz']);
const OPEN_PREFIXES = ['/assets/', '/firmware/'];

/** Writes that are part of the read side and so follow the same token (the page's "upload now" button). */
const PROTECTED_WRITES = new Set(['/upload/now']);

// Hashing first makes the comparison constant-time whatever the lengths.
const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/**
 * `http.read_token`: when set, every GET/HEAD of the JSON API, the event stream and `/metrics`,
 * and `POST /upload/now`, need `Authorization: Bearer <token>`; anything else answers 401
 * `read_token_required` / `read_token_invalid` with `WWW-Authenticate: Bearer`. Device intake
 * (`POST /telemetry`, `POST /health`, `/ws`) never needs it: boards have their own keys.
 * `/metrics` follows the token because it names stores, errors and rates of the site, and
 * Prometheus sends a bearer token with `authorization: {credentials: ...}` in its scrape config.
 */
export function registerReadToken(app: FastifyInstance, token: string | null): void {
  if (token === null) return;
  const expected = digest(token);
  app.addHook('onRequest', async (request, reply) => {
    if (!needsToken(request)) return;
    const given = bearer(request.headers.authorization);
    if (given !== null && timingSafeEqual(digest(given), expected)) return;
    reply.header('WWW-Authenticate', 'Bearer realm="iotgw"');
    throw given === null
      ? new GatewayError('read_token_required', 'this gateway needs its read token: send Authorization: Bearer <http.read_token>', 401)
      : new GatewayError('read_token_invalid', 'the read token is not valid', 401);
  });
}

function needsToken(request: FastifyRequest): boolean {
  // The matched route's pattern when there is one (`/assets/:name`), so no spelling of a path
  // (encoded, dotted, trailing slash) can reach a protected route through an open prefix.
  const path = request.routeOptions.url ?? request.url.split('?')[0].replace(/(.)\/+$/, '$1');
  if (request.method === 'GET' || request.method === 'HEAD') {
    return !OPEN_PATHS.has(path) && !OPEN_PREFIXES.some((p) => path.startsWith(p));
  }
  return request.method === 'POST' && PROTECTED_WRITES.has(path);
}

function bearer(header: string | undefined): string | null {
  if (typeof header !== 'string') return null;
  const m = /^bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1] : null;
}
