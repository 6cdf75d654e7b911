import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { StatusPageFile } from '../../scripts/build.mjs';
import { GatewayError } from '../errors.ts';

/**
 * The status page's files, built from gateway/status/web/ by `buildStatusPage()` in
 * scripts/build.mjs. dist/iotgw.mjs (what `scripts/start` and the service run) has them built in
 * as the constant below; the gateway run from sources (tsx, the tests) builds them with esbuild
 * on the first request for the page, once per process, so a source change shows on restart and
 * a gateway whose page nobody opens never pays for the build.
 */
declare const IOTGW_STATUS_PAGE: StatusPageFile[] | undefined;

interface Served {
  type: string;
  etag: string;
  /** Hashed names never change content: a year in the cache. index.html is revalidated each time. */
  cacheControl: string;
  bodies: { identity: Buffer; gzip: Buffer; br: Buffer };
}

let loading: Promise<Map<string, Served>> | null = null;

function load(): Promise<Map<string, Served>> {
  loading ??= (async () => {
    const files = typeof IOTGW_STATUS_PAGE !== 'undefined' ? IOTGW_STATUS_PAGE : await buildFromSources();
    return new Map(files.map((f) => [f.path, {
      type: f.type,
      etag: f.etag,
      cacheControl: f.path === '/' ? 'no-cache' : 'public, max-age=31536000, immutable',
      bodies: { identity: Buffer.from(f.body, 'base64'), gzip: Buffer.from(f.gzip, 'base64'), br: Buffer.from(f.br, 'base64') },
    }]));
  })();
  loading.catch(() => { loading = null; });
  return loading;
}

async function buildFromSources(): Promise<StatusPageFile[]> {
  // Not a literal specifier, so the dist bundle does not pull the build script (and esbuild) in.
  const script = new URL('../../scripts/build.mjs', import.meta.url).href;
  const { buildStatusPage } = (await import(script)) as typeof import('../../scripts/build.mjs');
  return buildStatusPage();
}

/** `GET /` and `GET /assets/<name>`: precompressed (brotli or gzip, as the browser accepts), with ETags. */
export function registerPageAssets(app: FastifyInstance): void {
  const serve = async (path: string, request: FastifyRequest, reply: FastifyReply) => {
    const file = (await load()).get(path);
    if (!file) throw new GatewayError('not_found', `no file ${path} in the status page`, 404);
    reply.header('content-type', file.type).header('cache-control', file.cacheControl).header('etag', file.etag).header('vary', 'accept-encoding');
    reply.header('x-content-type-options', 'nosniff');
    if (path === '/') {
      // The page loads only its own files and talks only to this gateway.
      reply.header('content-security-policy', "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'");
    }
    if (request.headers['if-none-match'] === file.etag) return reply.code(304).send();
    const accepted = String(request.headers['accept-encoding'] ?? '');
    const encoding = /\bbr\b/.test(accepted) ? 'br' : /\bgzip\b/.test(accepted) ? 'gzip' : 'identity';
    if (encoding !== 'identity') reply.header('content-encoding', encoding);
    return reply.send(file.bodies[encoding]);
  };
  app.get('/', (request, reply) => serve('/', request, reply));
  app.get<{ Params: { name: string } }>('/assets/:name', (request, reply) => serve(`/assets/${request.params.name}`, request, reply));
}
