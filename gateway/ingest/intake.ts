import { GatewayError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { Reading } from '../reading.ts';
import type { Config } from '../config.ts';
import { toReadings } from './validate.ts';
import { DeviceAuth, type KeySource } from './auth.ts';
import { RateLimiter, countByDevice } from './rate-limit.ts';
import { LIMIT_OF_CODE } from './limits.ts';
import { DeviceClocks } from './device-clocks.ts';
import { Gauge } from 'prom-client';
import type { TrafficStats } from '../status/traffic.ts';
import type { FirmwareOffer } from '../firmware/rollout.ts';

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
  /** An over-the-air update the sending board should take (docs/firmware-updates.md); absent when none. */
  firmware?: FirmwareOffer;
}

/** Decides the `firmware` offer of an acknowledgement (gateway/firmware/rollout.ts). */
export type OfferSource = (readings: readonly Reading[]) => FirmwareOffer | null;

/**
 * The one path every reading takes, whatever the transport: validate the whole batch, check the
 * device key and the device's rate, make it durable, and only then report success (rule 1).
 */
export class Intake {
  readonly auth: DeviceAuth;
  private readonly deviceRate: RateLimiter;
  private readonly addressRate: RateLimiter;
  private readonly windowMs: number;
  private readonly clocks: DeviceClocks;
  private clockVerdict = 0;
  private observer: ReadingObserver | null = null;
  private offers: OfferSource | null = null;
  private offersMade: (() => void) | null = null;

  constructor(
    private readonly config: Config,
    private readonly sink: DurableSink,
    private readonly metrics: Metrics,
    private readonly traffic: TrafficStats,
    private readonly log: Logger,
    keys: KeySource | null = null,
  ) {
    this.auth = new DeviceAuth(config.ingest.auth, keys);
    const rate = config.ingest.rate_limit;
    this.deviceRate = new RateLimiter(rate.per_device_per_second, rate.burst);
    this.addressRate = new RateLimiter(rate.per_address_per_second, rate.per_address_burst);
    this.windowMs = config.window_seconds * 1000;
    this.clocks = new DeviceClocks(() => this.config.ingest.max_clock_skew_seconds * 1000);
    const clocks = this.clocks;
    new Gauge({
      name: 'iotgw_clock_offset_seconds',
      help: "How far the gateway's clock is behind (+) or ahead (-) of its boards' synced clocks, when enough of them agree beyond ingest.max_clock_skew_seconds; else 0",
      registers: [metrics.registry],
      collect() { this.set(clocks.offsetMs() / 1000); },
    });
  }

  /** Applies a reloaded `ingest` section: `config` is the same object, updated in place by the reload. */
  reconfigure(): void {
    const rate = this.config.ingest.rate_limit;
    this.auth.update(this.config.ingest.auth);
    this.deviceRate.configure(rate.per_device_per_second, rate.burst);
    this.addressRate.configure(rate.per_address_per_second, rate.per_address_burst);
  }

  observe(observer: ReadingObserver): void {
    this.observer = observer;
  }

  /** Firmware offers in the acknowledgements; `counted` is told of each one made. */
  offerFirmware(source: OfferSource, counted: () => void): void {
    this.offers = source;
    this.offersMade = counted;
  }

  async accept(body: unknown, opts: AcceptOptions): Promise<Accepted> {
    const clockOffsetMs = this.clocks.offsetMs();
    if (clockOffsetMs !== this.clockVerdict) this.logClock(clockOffsetMs);
    const readings = toReadings(body, { now: Date.now(), windowMs: this.windowMs, limits: this.config.ingest, clockOffsetMs });
    // A trusted sender (the MQTT bridge: the site's broker authenticated its publishers) skips
    // the device key and the rate limits, which would stall the replay of its backlog.
    if (!opts.trusted) {
      this.auth.checkReadings(opts.key, readings);
      this.takeRate(readings, opts.remoteAddress);
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
    this.clocks.observe(readings);
    this.observer?.recordReadings(readings, opts.remoteAddress);
    // After the observer: a batch that reports a rollback is not answered with that image again.
    const offer = opts.trusted || this.offers === null ? null : this.offers(readings);
    if (offer === null) return { accepted: readings.length, duplicates: result.duplicates };
    this.offersMade?.();
    return { accepted: readings.length, duplicates: result.duplicates, firmware: offer };
  }

  private logClock(offsetMs: number): void {
    this.clockVerdict = offsetMs;
    if (offsetMs === 0) this.log.info("the boards' clocks agree with the gateway's again");
    else this.log.warn({ offset_seconds: Math.round(offsetMs / 1000) }, "the gateway's clock disagrees with its boards' synced clocks: their ts is judged against the boards' time (check NTP: timedatectl)");
  }

  /** Per device and per client address, all or nothing: a refused batch costs no tokens. */
  private takeRate(readings: Reading[], remoteAddress: string | undefined): void {
    const byDevice = this.deviceRate.enabled ? countByDevice(readings) : null;
    const byAddress = this.addressRate.enabled && remoteAddress ? new Map([[remoteAddress, readings.length]]) : null;
    const device = byDevice && this.deviceRate.check(byDevice);
    if (device) throw new GatewayError('rate_limited', `device_id "${device.key}" sends faster than ${this.config.ingest.rate_limit.per_device_per_second} readings/s`, 429, undefined, device.retryAfterSeconds);
    const address = byAddress && this.addressRate.check(byAddress);
    if (address) throw new GatewayError('address_rate_limited', `${address.key} sends faster than ${this.config.ingest.rate_limit.per_address_per_second} readings/s`, 429, undefined, address.retryAfterSeconds);
    if (byDevice) this.deviceRate.commit(byDevice);
    if (byAddress) this.addressRate.commit(byAddress);
  }

  /**
   * Counts a refusal by its public code. Called where an error becomes an answer (the telemetry
   * routes' onError hook, every WebSocket nack and refused upgrade), so each refusal is counted
   * once, whatever raised it: the body parser, validation, auth, rate limit or the store.
   */
  rejected(err: unknown): void {
    const reason = err instanceof GatewayError ? err.code : 'internal';
    this.metrics.readingsRejected.inc({ reason });
    const limit = LIMIT_OF_CODE[reason];
    if (limit) this.metrics.limitHits.inc({ limit });
  }
}
