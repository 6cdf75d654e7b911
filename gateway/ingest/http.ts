import type { FastifyInstance } from 'fastify';
import { keyFromHeaders } from './auth.ts';
import { toGatewayError } from '../server.ts';
import type { Intake } from './intake.ts';

/**
 * `POST /telemetry` and its original-API alias `POST /health`. 202 means durable: the answer is
 * sent only after the buffer confirmed the write.
 */
export function registerTelemetryRoutes(app: FastifyInstance, intake: Intake): void {
  const handler = async (request: import('fastify').FastifyRequest, reply: import('fastify').FastifyReply) => {
    const result = await intake.accept(request.body, { key: keyFromHeaders(request.headers), transport: 'http', remoteAddress: request.ip });
    return reply.code(202).send(result);
  };
  // onError also sees the body parser's refusals (invalid JSON, 413, 415), which never reach the handler.
  const counted = { onError: (_req: unknown, _reply: unknown, err: Error, done: () => void) => { intake.rejected(toGatewayError(err)); done(); } };
  app.post('/telemetry', counted, handler);
  app.post('/health', counted, handler);
}
