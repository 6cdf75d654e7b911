import Fastify, { type FastifyInstance, type FastifyError } from 'fastify';
import type { Config } from './config.ts';
import type { Logger } from './log.ts';
import type { Metrics } from './metrics.ts';
import { GatewayError } from './errors.ts';

/**
 * The HTTP server and its error contract: every error is `{error: {code, message, path?}}`
 * with the right status, and no stack trace or internal message ever reaches a client.
 */
export function createServer(config: Config, log: Logger, metrics: Metrics): FastifyInstance {
  const app = Fastify({
    // Request logging would cost the SD card a line per reading; errors are logged below.
    logger: false,
    bodyLimit: config.http.body_limit_bytes,
    requestTimeout: config.http.request_timeout_ms,
    keepAliveTimeout: config.http.keep_alive_timeout_ms,
    connectionTimeout: config.http.request_timeout_ms,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { ignoreTrailingSlash: true },
    // node checks headers_timeout_ms and request_timeout_ms only this often (30 s by default,
    // which let a slow client hold a connection three times its limit).
    http: { connectionsCheckingInterval: 1000 },
  });
  applyServerLimits(app, config);
  // Connection-level limits act before any route: count them here (docs/reliability.md, Limits).
  app.server.on('drop', () => metrics.limitHits.inc({ limit: 'http.max_connections' }));
  app.server.on('clientError', (err: NodeJS.ErrnoException) => {
    // node reports headers_timeout_ms and request_timeout_ms with the same code: one count for both.
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') metrics.limitHits.inc({ limit: 'http.request_timeout_ms' });
    else if (err.code === 'ERR_HTTP_CONTENT_LENGTH_MISMATCH' || err.code?.startsWith('HPE_')) metrics.readingsRejected.inc({ reason: 'malformed_http' });
  });

  // Readings are JSON only; anything else is a 415 rather than a string the validator would guess at.
  app.removeAllContentTypeParsers();
  // JSON.parse keeps `__proto__` as a plain own key (the validator refuses it), so the
  // slower prototype-poisoning scan of fastify's default parser buys nothing here.
  app.addContentTypeParser(['application/json', 'text/json'], { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, JSON.parse(body as string));
    } catch (err) {
      done(new GatewayError('invalid_json', `body is not valid JSON: ${(err as Error).message}`, 400), undefined);
    }
  });

  app.setErrorHandler((err: FastifyError | GatewayError, request, reply) => {
    const e = toGatewayError(err);
    if (e.status >= 500 && e.code === 'internal') log.error({ err, url: request.url }, 'request failed');
    if (e.retryAfterSeconds !== undefined) reply.header('Retry-After', String(e.retryAfterSeconds));
    void reply.code(e.status).send(e.toJSON());
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send(new GatewayError('not_found', `no route ${request.method} ${request.url.split('?')[0]}`, 404).toJSON());
  });

  app.addHook('onResponse', (request, reply, done) => {
    metrics.httpDuration.observe({ method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) }, reply.elapsedTime / 1000);
    done();
  });
  return app;
}

/** The server's limits that can change while it runs (at start, and on reload). */
export function applyServerLimits(app: FastifyInstance, config: Config): void {
  app.server.headersTimeout = config.http.headers_timeout_ms;
  app.server.requestTimeout = config.http.request_timeout_ms;
  app.server.keepAliveTimeout = config.http.keep_alive_timeout_ms;
  app.server.maxConnections = config.http.max_connections;
}

/** Maps framework errors to the public codes; anything unexpected becomes a bare 500. */
export function toGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  const code = (err as FastifyError)?.code;
  switch (code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new GatewayError('body_too_large', 'the request body is larger than the configured limit', 413);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
        ? new GatewayError('unsupported_media_type', 'send readings as Content-Type: application/json', 415)
        : new GatewayError('invalid_request', 'the Content-Length does not match the body', 400);
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new GatewayError('invalid_json', 'the body is empty', 400);
    case 'FST_ERR_BAD_URL':
    case 'FST_ERR_ASYNC_CONSTRAINT':
      return new GatewayError('invalid_request', 'the request is malformed', 400);
  }
  const status = (err as FastifyError)?.statusCode;
  if (status === 408) return new GatewayError('request_timeout', 'the request was not received in time', 408);
  if (status && status >= 400 && status < 500) return new GatewayError('invalid_request', 'the request is malformed', status);
  return new GatewayError('internal', 'internal error', 500);
}
