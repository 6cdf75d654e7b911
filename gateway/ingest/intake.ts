import { GatewayError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { Reading } from '../reading.ts';
import type { Config } from '../config.ts';
import { toReadings } from './validate.ts';
import { DeviceAuth } from './auth.ts';
import { DeviceRateLimiter } from './rate-limit.ts';
import type { TrafficStats } from '../status/traffic.ts';

/** The part of the buffer intake needs: a durable, idempotent append. */
export interface DurableSink {
  append(readings: Reading[]): Promise<{ stored: number; duplicates: number }>;
}

/** Told about every durable batch, after the ack is decided (the device inventory). */
export interface ReadingObserver {
  recordReadings(readings: Reading[], remoteAddress?: string): void;
}

export type Transport = 'http' | 'ws' | 'mqtt';

export interface AcceptOptions {
  key: string | null;
  transport: Transport;
  remoteAddress?: string;
  /**
   * The sender is a broker that authenticated its own publishers (the MQTT bridge), not a device:
   * no device key is asked for, and no per-device rate applies, since a broker redelivers a
   * backlog at its own pace after an outage and holds what we do not acknowledge.
   */
  trusted?: boolean;
}

export interface Accepted {
  accepted: number;
  duplicates: number;
}

/**
 * The one path every reading takes, whatever the transport: validate the whole batch, check the
 * device key and the device's rate, make it durable, and only then report success (rule 1).
 */
export class Intake {
  readonly auth: DeviceAuth;
  private readonly limiter: DeviceRateLimiter;
  private readonly windowMs: number;
  private observer: ReadingObserver | null = null;

  constructor(
    private readonly config: Config,
    private readonly sink: DurableSink,
    private readonly metrics: Metrics,
    private readonly traffic: TrafficStats,
    private readonly log: Logger,
  ) {
    this.auth = new DeviceAuth(config.ingest.auth);
    this.limiter = new DeviceRateLimiter(config.ingest.rate_limit.per_device_per_second, config.ingest.rate_limit.burst);
    this.windowMs = config.window_seconds * 1000;
  }

  observe(observer: ReadingObserver): void {
    this.observer = observer;
  }

  async accept(body: unknown, opts: AcceptOptions): Promise<Accepted> {
    const readings = toReadings(body, { now: Date.now(), windowMs: this.windowMs, limits: this.config.ingest });
    if (!opts.trusted) {
      this.auth.checkReadings(opts.key, readings);
      this.limiter.take(readings);
    }
    let result: { stored: number; duplicates: number };
    try {
      result = await this.sink.append(readings);
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'no store accepted the write; devices are told to retry');
      throw new GatewayError('store_unavailable', 'the gateway cannot store readings right now; retry later', 503, undefined, 5);
    }
    this.metrics.readingsAccepted.inc({ transport: opts.transport }, readings.length);
    if (result.duplicates > 0) this.metrics.readingsDuplicate.inc(result.duplicates);
    this.traffic.record(readings);
    this.observer?.recordReadings(readings, opts.remoteAddress);
    return { accepted: readings.length, duplicates: result.duplicates };
  }

  /**
   * Counts a refusal by its public code. Called where an error becomes an answer (the telemetry
   * routes' onError hook, every WebSocket nack and refused upgrade), so each refusal is counted
   * once, whatever raised it: the body parser, validation, auth, rate limit or the store.
   */
  rejected(err: unknown): void {
    this.metrics.readingsRejected.inc({ reason: err instanceof GatewayError ? err.code : 'internal' });
  }
}
