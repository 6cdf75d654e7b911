import type { Config } from '../../config.ts';
import type { Logger } from '../../log.ts';
import type { Metrics } from '../../metrics.ts';
import type { Intake } from '../intake.ts';
import type { WebSocketIntake } from '../websocket.ts';
import { MqttBridge } from './bridge.ts';
import { MqttBroker } from './broker.ts';
import { MqttTelemetry } from './telemetry.ts';

export interface MqttIntakeDeps {
  config: Config;
  log: Logger;
  metrics: Metrics;
  intake: Intake;
}

/**
 * MQTT intake as configured: the embedded broker (`mqtt.listen_port`), the bridge to a site's
 * broker (`mqtt.subscribe.url`), both, or neither. Both feed the one intake path.
 */
export class MqttIntake {
  private readonly broker: MqttBroker | null;
  private readonly bridge: MqttBridge | null;

  constructor(private readonly deps: MqttIntakeDeps) {
    const { config, log, metrics, intake } = deps;
    const telemetry = new MqttTelemetry(intake, config, log);
    this.broker = config.mqtt.listen_port === null ? null : new MqttBroker({ config, log, metrics, telemetry, auth: intake.auth });
    this.bridge = config.mqtt.subscribe.url === null ? null : new MqttBridge({ config, log, metrics, telemetry });
  }

  get enabled(): boolean {
    return this.broker !== null || this.bridge !== null;
  }

  /** The embedded broker's TCP port once started; null without a broker. */
  get port(): number | null {
    return this.broker?.port ?? null;
  }

  /** `ws` carries MQTT over WebSocket at /mqtt on the HTTP port (`mqtt.websocket`). */
  async start(ws: WebSocketIntake | null): Promise<void> {
    if (this.broker) {
      await this.broker.start();
      if (this.deps.config.mqtt.websocket && ws) ws.mount('/mqtt', this.broker.upgrade);
    }
    this.bridge?.start();
  }

  async stop(timeoutMs: number): Promise<void> {
    await Promise.all([this.broker?.stop(timeoutMs), this.bridge?.stop(timeoutMs)]);
  }
}
