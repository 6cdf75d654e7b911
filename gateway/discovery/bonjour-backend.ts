import { Advertiser } from './advertiser.ts';
import type { BackendContext, DiscoveryBackend } from './backend.ts';
import { DeviceBrowser } from './browser.ts';
import { HostNameResponder } from './host-name.ts';
import { MdnsSocket } from './mdns-socket.ts';
import { GATEWAY_SERVICE, MQTT_SERVICE, gatewayTxt, instanceLabel, mqttTxt, type HostAddresses } from './names.ts';
import { NetWatcher } from './net-watcher.ts';

/**
 * The default backend, in-process: bonjour-service's multicast socket and responder, with the
 * gateway's records, host-name records and the device browser on it. Coexists with avahi-daemon
 * (both bind 5353 with SO_REUSEADDR and both receive every multicast packet).
 *
 * With `discovery.interfaces` set, multicast is joined and sent on the first listed interface that
 * has an IPv4 address (one socket, one interface); when that address changes the socket is
 * re-created. Without it, the kernel's default multicast interface is used and all interfaces'
 * addresses are published.
 */
export class BonjourBackend implements DiscoveryBackend {
  readonly name = 'bonjour';
  private readonly watcher: NetWatcher;
  private parts: { socket: MdnsSocket; host: HostNameResponder; advertisers: Advertiser[]; browser: DeviceBrowser; boundTo: string | undefined } | null = null;
  private stopped = false;
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly ctx: BackendContext) {
    this.watcher = new NetWatcher(ctx.config.discovery.interfaces, ctx.pollMs);
  }

  async start(): Promise<void> {
    this.watcher.on('change', (next) => { this.chain = this.chain.then(() => this.onChange(next)).catch((err) => this.ctx.log.error({ err }, 'mDNS re-announce failed')); });
    this.watcher.start();
    await this.open(this.watcher.addresses);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watcher.stop();
    await this.chain;
    await this.close();
  }

  private interfaceAddress(addrs: HostAddresses): string | undefined {
    for (const name of this.ctx.config.discovery.interfaces) if (addrs.byInterface[name]) return addrs.byInterface[name];
    return undefined;
  }

  private async open(addrs: HostAddresses): Promise<void> {
    const d = this.ctx.config.discovery;
    const boundTo = this.interfaceAddress(addrs);
    if (d.interfaces.length > 0 && !boundTo) {
      this.ctx.onProblem(`none of discovery.interfaces (${d.interfaces.join(', ')}) has an IPv4 address yet; waiting for one`);
      return;
    }
    if (addrs.ipv4.length + addrs.ipv6.length === 0) this.ctx.onProblem('no network interface with an address to advertise (only loopback)');
    const log = this.ctx.log;
    const socket = new MdnsSocket({ interfaceAddress: boundTo, log });
    socket.onProblem((reason) => this.ctx.onProblem(reason));
    await socket.start();
    const host = new HostNameResponder(socket, `${d.host_name}.local`, log);
    const instance = instanceLabel(d.instance_name ?? `iotgw ${this.ctx.config.gateway_id}`);
    const announceIntervalMs = d.announce_interval_seconds * 1000;
    const advertisers = [new Advertiser(socket, host, { service: GATEWAY_SERVICE, instance, port: this.ctx.port, txt: gatewayTxt(this.ctx.config, this.ctx.version), announceIntervalMs }, log)];
    if (this.ctx.mqttPort !== null) {
      advertisers.push(new Advertiser(socket, host, { service: MQTT_SERVICE, instance, port: this.ctx.mqttPort, txt: mqttTxt(this.ctx.config), announceIntervalMs }, log));
    }
    const browser = new DeviceBrowser({ query: (q) => socket.query(q) }, this.ctx.sink, { maxQueryIntervalMs: d.announce_interval_seconds * 1000 }, log);
    socket.mdns.on('response', (packet) => browser.handleResponse(packet));
    host.start(addrs);
    for (const a of advertisers) a.start();
    browser.start();
    this.parts = { socket, host, advertisers, browser, boundTo };
  }

  private async close(): Promise<void> {
    const p = this.parts;
    this.parts = null;
    if (!p) return;
    p.browser.stop();
    for (const a of p.advertisers) await a.stop();
    await p.host.stop();
    await p.socket.stop();
  }

  private async onChange(next: HostAddresses): Promise<void> {
    if (this.stopped) return;
    const wanted = this.interfaceAddress(next);
    if (!this.parts || (this.ctx.config.discovery.interfaces.length > 0 && wanted !== this.parts.boundTo)) {
      await this.close();
      await this.open(next);
      return;
    }
    this.parts.socket.mdns.update();
    await this.parts.host.update(next);
    for (const a of this.parts.advertisers) await a.announce();
  }
}
