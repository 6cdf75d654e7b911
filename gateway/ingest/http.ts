import type { FastifyInstance } from 'fastify';
import { keyFromHeaders } from './auth.ts';
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
  app.post('/telemetry', handler);
  app.post('/health', handler);
}
