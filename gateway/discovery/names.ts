import { networkInterfaces } from 'node:os';
import type { Config } from '../config.ts';

/** What the gateway advertises and what the firmware announces (DESIGN.md, "Names"). */
export const GATEWAY_SERVICE = '_iotgw._tcp.local';
/** The embedded MQTT broker, when it is on: the type MQTT clients and tools browse for. */
export const MQTT_SERVICE = '_mqtt._tcp.local';
export const DEVICE_SERVICE = '_iotgw-dev._tcp.local';
export const SERVICES_ENUM = '_services._dns-sd._udp.local';

/** TTLs as RFC 6762 §10 recommends: 120 s for records naming a host, 75 min for the others. */
export const HOST_TTL = 120;
export const OTHER_TTL = 4500;

export type DiscoveryConfig = Config['discovery'];

/** The gateway's TXT record (RFC 6763 §6): keys a board needs to connect without configuration. */
export function gatewayTxt(config: Pick<Config, 'gateway_id' | 'ingest'>, version: string): Record<string, string> {
  return { id: config.gateway_id, v: version, path: '/telemetry', ws: '/ws', auth: config.ingest.auth.mode === 'keys' ? '1' : '0' };
}

/** The MQTT service's TXT record: the gateway, where telemetry goes, and whether a device key is the password. */
export function mqttTxt(config: Pick<Config, 'gateway_id' | 'ingest' | 'mqtt'>): Record<string, string> {
  return { id: config.gateway_id, topic: config.mqtt.topic, auth: config.ingest.auth.mode === 'keys' ? '1' : '0' };
}

/** `iotgw gw-1` → a DNS-SD instance label (dots would split it; max 63 bytes). */
export function instanceLabel(name: string): string {
  return name.replace(/\./g, '-').slice(0, 63);
}

export interface HostAddresses {
  ipv4: string[];
  ipv6: string[];
  /** Interface name → first IPv4 address, for joining multicast on it. */
  byInterface: Record<string, string>;
}

/**
 * The addresses to publish for the host name: every non-internal address of the configured
 * interfaces (all interfaces when the list is empty). IPv6 link-local addresses are left out:
 * without a scope id a board cannot use them.
 */
export function hostAddresses(interfaces: readonly string[], read = networkInterfaces): HostAddresses {
  const out: HostAddresses = { ipv4: [], ipv6: [], byInterface: {} };
  for (const [name, addrs] of Object.entries(read())) {
    if (interfaces.length > 0 && !interfaces.includes(name)) continue;
    for (const a of addrs ?? []) {
      if (a.internal) continue;
      if (a.family === 'IPv4') {
        out.ipv4.push(a.address);
        out.byInterface[name] ??= a.address;
      } else if (!a.address.toLowerCase().startsWith('fe80:')) out.ipv6.push(a.address);
    }
  }
  out.ipv4.sort();
  out.ipv6.sort();
  return out;
}

/** Decodes a TXT record's strings (`key=value`, RFC 6763 §6.3); keys are case-insensitive. */
export function decodeTxt(data: unknown): Record<string, string> {
  const parts = Array.isArray(data) ? data : [data];
  const out: Record<string, string> = {};
  for (const p of parts) {
    const s = Buffer.isBuffer(p) ? p.toString('utf8') : typeof p === 'string' ? p : '';
    if (!s) continue;
    const eq = s.indexOf('=');
    const key = (eq === -1 ? s : s.slice(0, eq)).toLowerCase();
    if (key && !(key in out)) out[key] = eq === -1 ? '' : s.slice(eq + 1);
  }
  return out;
}

export const sameName = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();
