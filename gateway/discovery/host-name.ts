import type { Answer } from 'dns-packet';
import type { Logger } from '../log.ts';
import type { MdnsSocket } from './mdns-socket.ts';
import { HOST_TTL, type HostAddresses } from './names.ts';

/**
 * Answers for `<host_name>.local` (A and AAAA, RFC 6762 §6): the SRV target of the gateway's
 * service. bonjour-service left to itself names the bare OS host name and answers no address for
 * it (DESIGN.md, "Known pitfalls"), so these records are built and registered here. When the
 * addresses change, the removed ones get a goodbye and the new set is announced with the
 * cache-flush bit, so boards drop a stale DHCP address at once.
 */
export class HostNameResponder {
  private addresses: HostAddresses = { ipv4: [], ipv6: [], byInterface: {} };
  private started = false;

  constructor(private readonly socket: MdnsSocket, readonly fqdn: string, private readonly log: Logger) {}

  records(ttl = HOST_TTL, addrs: HostAddresses = this.addresses): Answer[] {
    return [
      ...addrs.ipv4.map((ip): Answer => ({ name: this.fqdn, type: 'A', ttl, flush: true, data: ip })),
      ...addrs.ipv6.map((ip): Answer => ({ name: this.fqdn, type: 'AAAA', ttl, flush: true, data: ip })),
    ];
  }

  start(addresses: HostAddresses): void {
    this.addresses = addresses;
    this.started = true;
    this.socket.registry.register(this.records());
    if (addresses.ipv4.length + addresses.ipv6.length === 0) this.log.info({ host: this.fqdn }, 'no address to publish yet; waiting for an interface');
  }

  /** Replaces the published addresses: goodbye for the removed ones, then the new set. */
  async update(next: HostAddresses): Promise<void> {
    if (!this.started) return;
    const prev = this.addresses;
    const removed: HostAddresses = { ipv4: prev.ipv4.filter((a) => !next.ipv4.includes(a)), ipv6: prev.ipv6.filter((a) => !next.ipv6.includes(a)), byInterface: {} };
    this.socket.registry.unregister(this.records());
    this.addresses = next;
    this.socket.registry.register(this.records());
    this.log.info({ host: this.fqdn, ipv4: next.ipv4, ipv6: next.ipv6 }, 'host addresses changed; re-announcing');
    const goodbyes = this.records(0, removed).map((r) => ({ ...r, flush: false }));
    if (goodbyes.length > 0) await this.socket.respond(goodbyes);
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    const records = this.records();
    this.socket.registry.unregister(records);
    if (records.length > 0) await this.socket.respond(this.records(0).map((r) => ({ ...r, flush: false })));
  }
}
