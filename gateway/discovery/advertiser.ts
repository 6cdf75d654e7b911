import type { Answer } from 'dns-packet';
import type { Logger } from '../log.ts';
import type { HostNameResponder } from './host-name.ts';
import type { MdnsSocket } from './mdns-socket.ts';
import { HOST_TTL, OTHER_TTL, SERVICES_ENUM } from './names.ts';

export interface AdvertiserOptions {
  /** The service type, e.g. `_iotgw._tcp.local` (GATEWAY_SERVICE) or `_mqtt._tcp.local`. */
  service: string;
  /** Instance label, e.g. `iotgw gw-1`. */
  instance: string;
  port: number;
  txt: Record<string, string>;
  /** Repeat the full announcement this often (boards that only listen passively still learn of us). */
  announceIntervalMs: number;
}

/**
 * Advertises `<instance>.<service>` (`_iotgw._tcp.local`, `_mqtt._tcp.local`; RFC 6763): PTR, SRV → `<host>.local`:port, TXT, plus
 * the service-type enumeration PTR. The records sit in bonjour-service's responder, which answers
 * queries for them; this class announces them (RFC 6762 §8.3: twice, one second apart, then every
 * `announceIntervalMs`) and withdraws them with TTL 0 on `stop()`.
 */
export class Advertiser {
  private timers: NodeJS.Timeout[] = [];
  private running = false;

  constructor(private readonly socket: MdnsSocket, private readonly host: HostNameResponder, private readonly opts: AdvertiserOptions, private readonly log: Logger) {}

  get fqdn(): string {
    return `${this.opts.instance}.${this.opts.service}`;
  }

  records(ttlScale = 1): Answer[] {
    const t = (ttl: number) => ttl * ttlScale;
    return [
      { name: this.opts.service, type: 'PTR', ttl: t(OTHER_TTL), data: this.fqdn },
      { name: this.fqdn, type: 'SRV', ttl: t(HOST_TTL), flush: ttlScale > 0, data: { port: this.opts.port, target: this.host.fqdn, priority: 0, weight: 0 } },
      { name: this.fqdn, type: 'TXT', ttl: t(OTHER_TTL), flush: ttlScale > 0, data: Object.entries(this.opts.txt).map(([k, v]) => `${k}=${v}`) },
      { name: SERVICES_ENUM, type: 'PTR', ttl: t(OTHER_TTL), data: this.opts.service },
    ];
  }

  start(): void {
    this.running = true;
    this.socket.registry.register(this.records());
    this.log.info({ instance: this.fqdn, target: this.host.fqdn, port: this.opts.port, txt: this.opts.txt }, 'advertising over mDNS');
    void this.announce();
    this.timers.push(setTimeout(() => void this.announce(), 1000).unref());
    this.timers.push(setInterval(() => void this.announce(), this.opts.announceIntervalMs).unref());
  }

  /** Sends every record (service and host addresses) in one unsolicited response. */
  async announce(): Promise<void> {
    if (!this.running) return;
    await this.socket.respond(this.records(), this.host.records());
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
    this.socket.registry.unregister(this.records());
    await this.socket.respond(this.records(0));
  }
}
