import { promises as dns } from 'node:dns';
import { isIP, Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { MongoClient } from 'mongodb';
import { type CheckContext, type CheckResult, errText, result, within } from '../types.ts';

interface ParsedUri { srv: boolean; hosts: { host: string; port: number }[]; tls: boolean; shown: string }

/** Host list and TLS setting of a mongodb:// or mongodb+srv:// URI, enough to test DNS and the network by hand. */
export function parseMongoUri(uri: string): ParsedUri {
  const m = /^mongodb(\+srv)?:\/\/(?:[^@/]*@)?([^/?]+)(?:\/[^?]*)?(?:\?(.*))?$/.exec(uri);
  if (!m) throw new Error('not a mongodb:// or mongodb+srv:// URI');
  const srv = Boolean(m[1]);
  const hosts = m[2].split(',').map((h) => {
    const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(h);
    if (v6) return { host: v6[1], port: Number(v6[2] ?? 27017) };
    const [host, port] = h.split(':');
    return { host, port: Number(port ?? 27017) };
  });
  const params = new URLSearchParams(m[3] ?? '');
  const flag = params.get('tls') ?? params.get('ssl');
  const tls = flag === null ? srv : flag === 'true';
  return { srv, hosts, tls, shown: `mongodb${srv ? '+srv' : ''}://${m[2]}` };
}

/**
 * Atlas in the order it fails in the field: DNS (incl. the SRV record), a TCP (+TLS) connection,
 * then the driver's auth and a `ping` on the configured database, each step bounded.
 */
export async function checkAtlas(ctx: CheckContext): Promise<CheckResult> {
  const name = 'atlas';
  const uri = ctx.config.mongodb.uri;
  if (!uri) return result(name, 'note', 'mongodb.uri not set: upload disabled, readings stay buffered locally', 'set mongodb.uri (or IOTGW_MONGODB_URI in /etc/iotgw/environment) to upload to Atlas');
  let parsed: ParsedUri;
  try {
    parsed = parseMongoUri(uri);
  } catch (err) {
    return result(name, 'fail', `mongodb.uri: ${errText(err)}`, 'copy the connection string from Atlas: Connect > Drivers');
  }
  const t = ctx.timeoutMs;
  const steps: string[] = [];

  // 1. DNS
  let targets = parsed.hosts;
  try {
    if (parsed.srv) {
      const srv = await within(dns.resolveSrv(`_mongodb._tcp.${parsed.hosts[0].host}`), t, 'SRV lookup');
      targets = srv.map((r) => ({ host: r.name, port: r.port }));
      steps.push(`SRV ${srv.length} host(s)`);
    } else {
      for (const h of targets) if (!isIP(h.host)) await within(dns.lookup(h.host), t, `lookup ${h.host}`);
      steps.push(`DNS ok (${targets.length} host(s))`);
    }
  } catch (err) {
    return result(name, 'fail', `${parsed.shown}: DNS failed: ${errText(err)}`, 'check the host in mongodb.uri and the Pi\'s DNS (resolvectl status; cat /etc/resolv.conf)');
  }

  // 2. TCP, and TLS when the URI uses it: the first host that answers is enough.
  let lastErr: unknown = null;
  let reached: string | null = null;
  for (const target of targets) {
    try {
      await within(parsed.tls ? tlsProbe(target.host, target.port) : tcpProbe(target.host, target.port), t, `connect ${target.host}:${target.port}`);
      reached = `${target.host}:${target.port}`;
      break;
    } catch (err) {
      lastErr = err;
    }
  }
  if (!reached) {
    const e = errText(lastErr);
    const tlsHint = /certificate|CERT_|self.signed/i.test(e) ? 'a certificate error: check the clock (timedatectl) and ca-certificates' : 'check that outbound port 27017 is open and the Pi\'s IP is on the Atlas access list (Network Access)';
    return result(name, 'fail', `${parsed.shown}: ${parsed.tls ? 'TLS' : 'TCP'} connect failed: ${e}`, tlsHint);
  }
  steps.push(`${parsed.tls ? 'TLS' : 'TCP'} ok to ${reached}`);

  // 3. The driver: handshake, auth, ping.
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: t, connectTimeoutMS: t, socketTimeoutMS: t, maxPoolSize: 1, appName: 'iotgw-doctor' });
  try {
    const started = Date.now();
    await within(client.connect().then(() => client.db(ctx.config.mongodb.database).command({ ping: 1 })), t * 2, 'driver ping');
    steps.push(`auth + ping ok (${Date.now() - started} ms)`);
    return result(name, 'ok', `${parsed.shown}: ${steps.join(', ')}`);
  } catch (err) {
    const e = errText(err);
    const auth = /auth|credential|password|SCRAM|code 18\b/i.test(e) || (err as { code?: number }).code === 18;
    return result(name, 'fail', `${parsed.shown}: ${steps.join(', ')}, but ${auth ? 'authentication' : 'the driver'} failed: ${e}`,
      auth ? 'check user and password in mongodb.uri (Atlas: Database Access); URL-encode special characters' : 'check the Atlas cluster state and the URI options');
  } finally {
    await client.close(true).catch(() => undefined);
  }
}

function tcpProbe(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = new Socket();
    s.once('error', (err) => { s.destroy(); reject(err); });
    s.connect(port, host, () => { s.end(); s.destroy(); resolve(); });
  });
}

function tlsProbe(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host, port, servername: isIP(host) ? undefined : host });
    s.once('error', (err) => { s.destroy(); reject(err); });
    s.once('secureConnect', () => { s.end(); s.destroy(); resolve(); });
  });
}
