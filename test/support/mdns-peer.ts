/**
 * An independent mDNS peer for the discovery tests: `dns-packet` over a raw UDP socket on 5353
 * (SO_REUSEADDR, multicast membership), run inside a network namespace. Not bonjour-service, not
 * multicast-dns: the code under test is checked against plain RFC 6762 packets.
 * JSON-lines commands (see netns.ts):
 *   query {name, type}                      send a query
 *   packets {from?, since?}                 every packet received so far (decoded, simplified)
 *   announce {instance, host, address, port, txt, ttl, ptrOnly?}   announce a `_iotgw-dev._tcp`
 *        instance (simulated ESP32) and answer queries for its records from then on
 *   goodbye {instance}                      TTL 0 for the instance's records, stop answering
 *   silence {instance}                      stop answering, no goodbye (records then expire)
 *   host {name, address}                    answer A queries for another host name (a second responder)
 *   http {url, body?}                       GET (or POST a JSON body to) a URL; status and body
 */
import { createSocket } from 'node:dgram';
import { networkInterfaces } from 'node:os';
import { createInterface } from 'node:readline';
import dnsPacket, { type Answer, type Packet } from 'dns-packet';

const GROUP = '224.0.0.251';
const DEV = '_iotgw-dev._tcp.local';
const ifaceAddr = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address ?? '127.0.0.1';

interface Simple { name: string; type: string; ttl: number; flush: boolean; data: unknown }
interface Seen { at: number; from: string; port: number; kind: 'query' | 'response'; questions: { name: string; type: string }[]; records: Simple[] }
const seen: Seen[] = [];
const devices = new Map<string, { records: Answer[]; answering: boolean }>();
const hosts: Answer[] = [];

const sock = createSocket({ type: 'udp4', reuseAddr: true });
await new Promise<void>((r) => sock.bind(5353, '0.0.0.0', () => r()));
sock.addMembership(GROUP, ifaceAddr);
sock.setMulticastInterface(ifaceAddr);
sock.setMulticastLoopback(true);

const simplify = (rr: Answer): Simple => {
  const r = rr as { name: string; type: string; ttl?: number; flush?: boolean; data?: unknown };
  let data = r.data;
  if (r.type === 'TXT') data = (Array.isArray(data) ? data : [data]).map((b) => (Buffer.isBuffer(b) ? b.toString('utf8') : String(b)));
  return { name: r.name, type: r.type, ttl: r.ttl ?? 0, flush: r.flush === true, data };
};

const send = (p: Packet): Promise<void> => new Promise((resolve, reject) => {
  const buf = dnsPacket.encode(p);
  sock.send(buf, 5353, GROUP, (err) => (err ? reject(err) : resolve()));
});

sock.on('message', (buf, rinfo) => {
  let p: Packet;
  try { p = dnsPacket.decode(buf); } catch { return; }
  const kind = p.type === 'response' ? 'response' : 'query';
  seen.push({ at: Date.now(), from: rinfo.address, port: rinfo.port, kind, questions: (p.questions ?? []).map((q) => ({ name: q.name, type: q.type })), records: [...(p.answers ?? []), ...(p.additionals ?? [])].map(simplify) });
  if (kind !== 'query') return;
  // answer as the simulated devices and hosts do
  const answers: Answer[] = [];
  for (const q of p.questions ?? []) {
    const pool = [...hosts, ...[...devices.values()].filter((d) => d.answering).flatMap((d) => d.records)];
    for (const rr of pool) if (rr.name.toLowerCase() === q.name.toLowerCase() && ((q.type as string) === 'ANY' || rr.type === q.type)) answers.push(rr);
  }
  if (answers.length > 0) void send({ type: 'response', flags: dnsPacket.AUTHORITATIVE_ANSWER, answers });
});

const out = (m: unknown) => process.stdout.write(`${JSON.stringify(m)}\n`);
out({ event: 'ready', address: ifaceAddr });

for await (const line of createInterface({ input: process.stdin })) {
  const m = JSON.parse(line) as Record<string, unknown> & { id: number; cmd: string };
  try {
    switch (m.cmd) {
      case 'query':
        await send({ type: 'query', questions: [{ name: String(m.name), type: m.type as 'PTR' }] });
        out({ id: m.id, result: 'sent' });
        break;
      case 'packets':
        out({ id: m.id, result: seen.filter((s) => (!m.from || s.from === m.from) && (!m.since || s.at >= Number(m.since))) });
        break;
      case 'announce': {
        const instance = `${String(m.instance)}.${DEV}`;
        const ttl = Number(m.ttl ?? 120);
        const txt = Object.entries(m.txt as Record<string, string>).map(([k, v]) => `${k}=${v}`);
        const records: Answer[] = [
          { name: DEV, type: 'PTR', ttl, data: instance },
          { name: instance, type: 'SRV', ttl, flush: true, data: { port: Number(m.port), target: String(m.host), priority: 0, weight: 0 } },
          { name: instance, type: 'TXT', ttl, flush: true, data: txt },
          { name: String(m.host), type: 'A', ttl, flush: true, data: String(m.address) },
        ];
        devices.set(instance, { records, answering: true });
        await send({ type: 'response', flags: dnsPacket.AUTHORITATIVE_ANSWER, answers: m.ptrOnly ? records.slice(0, 1) : records });
        out({ id: m.id, result: 'announced' });
        break;
      }
      case 'goodbye': {
        const instance = `${String(m.instance)}.${DEV}`;
        const d = devices.get(instance);
        if (!d) throw new Error('unknown instance');
        d.answering = false;
        await send({ type: 'response', flags: dnsPacket.AUTHORITATIVE_ANSWER, answers: d.records.map((r) => ({ ...r, ttl: 0, flush: false }) as Answer) });
        out({ id: m.id, result: 'goodbye sent' });
        break;
      }
      case 'silence': {
        const d = devices.get(`${String(m.instance)}.${DEV}`);
        if (d) d.answering = false;
        out({ id: m.id, result: 'silent' });
        break;
      }
      case 'host':
        hosts.push({ name: String(m.name), type: 'A', ttl: 120, flush: true, data: String(m.address) });
        out({ id: m.id, result: 'ok' });
        break;
      case 'http': {
        const r = await fetch(String(m.url), m.body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(m.body) });
        const text = await r.text();
        let body: unknown = text;
        try { body = JSON.parse(text); } catch { /* not JSON */ }
        out({ id: m.id, result: { status: r.status, body } });
        break;
      }
      default:
        out({ id: m.id, error: `unknown command ${m.cmd}` });
    }
  } catch (err) {
    out({ id: m.id, error: (err as Error).message });
  }
}
sock.close();
