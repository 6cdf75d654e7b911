import type { Config } from '../../config.ts';
import { GatewayError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import { toGatewayError } from '../../server.ts';
import type { Accepted, Intake } from '../intake.ts';
import { payloadBody } from './payload.ts';
import { RefusalLog } from './refusal-log.ts';
import { TopicTemplate } from './topic.ts';

export interface PublishOrigin {
  /** The device key the publisher logged in with (the MQTT password); null without one. */
  key: string | null;
  remoteAddress?: string;
  /** The bridge: the site's broker authenticated the publisher (see AcceptOptions.trusted). */
  trusted?: boolean;
  /** For the log: the MQTT client id, or `bridge`. */
  client: string;
}

/**
 * A PUBLISH to a telemetry topic, turned into the body `POST /telemetry` takes and handed to the
 * one intake path (`Intake.accept`, transport `mqtt`). Shared by the embedded broker and the
 * bridge, so both take exactly what HTTP and WebSocket take, and refuse it the same way.
 */
export class MqttTelemetry {
  readonly template: TopicTemplate;
  private readonly refusals: RefusalLog;

  constructor(private readonly intake: Intake, private readonly config: Pick<Config, 'mqtt' | 'ingest'>, log: Logger) {
    this.template = new TopicTemplate(config.mqtt.topic);
    this.refusals = new RefusalLog(log);
  }

  /** Resolves once every reading of the payload is durable; rejects with the GatewayError that refused it. */
  async accept(topic: string, payload: Buffer, origin: PublishOrigin): Promise<Accepted> {
    const ids = this.template.parse(topic);
    // The broker's packet guard stops larger packets before they are read; this also covers the bridge.
    const max = this.config.mqtt.max_packet_bytes;
    if (payload.length > max) throw new GatewayError('body_too_large', `the payload is ${payload.length} bytes, more than mqtt.max_packet_bytes (${max})`, 413);
    const body = payloadBody(payload, ids, this.config.ingest.max_batch);
    return this.intake.accept(body, { key: origin.key, transport: 'mqtt', remoteAddress: origin.remoteAddress, trusted: origin.trusted });
  }

  /** Counts a refusal by its code (`iotgw_readings_rejected_total{reason}`) and logs it, throttled. */
  refused(err: unknown, origin: Pick<PublishOrigin, 'client' | 'remoteAddress'>, topic?: string, msg = 'MQTT message refused'): GatewayError {
    const e = toGatewayError(err);
    this.intake.rejected(e);
    this.refusals.refused(e, { client: origin.client, remote: origin.remoteAddress, topic }, msg);
    return e;
  }
}
