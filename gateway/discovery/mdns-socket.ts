import { EventEmitter } from 'node:events';
import type { RemoteInfo } from 'node:dgram';
import BonjourService from 'bonjour-service';
import type { Answer, Packet, Question } from 'dns-packet';
import type { Logger } from '../log.ts';

const SELF_CHECK = '_iotgw._tcp.local';

/** The parts of multicast-dns (the socket inside bonjour-service) the backend uses. */
export interface Mdns extends EventEmitter {
  query(q: { questions: Question[] }, cb?: (err: Error | null) => void): void;
  respond(res: { answers: Answer[]; additionals?: Answer[] }, cb?: (err: Error | null) => void): void;
  update(): void;
  destroy(cb?: () => void): void;
  on(event: 'response' | 'query', listener: (packet: Packet, rinfo: RemoteInfo) => void): this;
  on(event: 'ready', listener: () => void): this;
  on(event: 'error' | 'warning', listener: (err: NodeJS.ErrnoException) => void): this;
}

/** bonjour-service's responder: a record registry that answers queries (PTR → SRV/TXT → A/AAAA). */
interface BonjourServer {
  mdns: Mdns;
  register(records: Answer[]): void;
  unregister(records: Answer[]): void;
}

/**
 * One multicast socket on 5353 for the whole process, owned by bonjour-service: SO_REUSEADDR (so
 * an avahi-daemon or another responder on the same host keeps working), multicast membership on
 * the chosen interface, and bonjour-service's query responder answering from the records the
 * advertiser and the host-name records register. The browser listens on the same socket.
 *
 * Network trouble (port 5353 taken without SO_REUSEADDR, no multicast route, no interface) is
 * reported once as a warning by the backend; later repeats of the same trouble go to debug.
 */
export class MdnsSocket {
  private bonjour: BonjourService | null = null;
  private server: BonjourServer | null = null;
  /** The first problem seen, null while multicast works. */
  problem: string | null = null;
  private readonly events = new EventEmitter<{ problem: [string] }>();

  constructor(private readonly opts: { interfaceAddress?: string; log: Logger; selfCheckMs?: number }) {}

  get mdns(): Mdns {
    if (!this.server) throw new Error('mDNS socket is not started');
    return this.server.mdns;
  }

  get registry(): BonjourServer {
    if (!this.server) throw new Error('mDNS socket is not started');
    return this.server;
  }

  onProblem(fn: (reason: string) => void): void {
    this.events.on('problem', fn);
  }

  /** Binds and checks that a multicast packet can be sent. Resolves in every case; `problem` tells how it went. */
  async start(): Promise<void> {
    const options: Record<string, unknown> = { reuseAddr: true };
    if (this.opts.interfaceAddress) Object.assign(options, { interface: this.opts.interfaceAddress, bind: '0.0.0.0' });
    this.bonjour = new BonjourService(options, (err: Error) => this.report(`cannot send: ${err.message}`));
    const server = (this.bonjour as unknown as { server?: BonjourServer }).server;
    if (!server?.mdns || typeof server.register !== 'function') throw new Error('bonjour-service internals changed: no server.mdns/register');
    this.server = server;
    const mdns = server.mdns;
    const bound = new Promise<string | null>((resolve) => {
      mdns.once('ready', () => resolve(null));
      mdns.once('error', (err) => resolve(`cannot bind UDP 5353: ${err.code ?? err.message}`));
    });
    mdns.on('error', (err) => this.report(`socket error: ${err.code ?? err.message}`));
    mdns.on('warning', (err) => this.report(`multicast: ${err.code ?? ''} ${err.message}`.trim()));
    const bindProblem = await bound;
    if (bindProblem) {
      this.report(bindProblem);
      return;
    }
    // A harmless query proves a multicast packet can leave (no route to 224.0.0.0/4 fails here),
    // and hearing it come back (multicast loopback is on) proves the interface does multicast.
    const selfCheck = (packet: { questions?: { name: string; type: string }[] }) => {
      if (packet.questions?.some((q) => q.name === SELF_CHECK && q.type === 'PTR')) {
        clearTimeout(timer);
        mdns.removeListener('query', selfCheck);
      }
    };
    const timer = setTimeout(() => {
      mdns.removeListener('query', selfCheck);
      this.report('multicast does not work on this interface (our own query never came back)');
    }, this.opts.selfCheckMs ?? 3000);
    timer.unref();
    mdns.on('query', selfCheck);
    this.stopSelfCheck = () => { clearTimeout(timer); mdns.removeListener('query', selfCheck); };
    await new Promise<void>((resolve) => {
      mdns.query({ questions: [{ name: SELF_CHECK, type: 'PTR' }] }, (err) => {
        if (err) {
          this.stopSelfCheck();
          this.report(`cannot send multicast: ${(err as NodeJS.ErrnoException).code ?? err.message}`);
        }
        resolve();
      });
    });
  }

  private stopSelfCheck: () => void = () => {};

  /** Sends a response packet and waits until it left (or failed). */
  respond(answers: Answer[], additionals: Answer[] = []): Promise<void> {
    return new Promise((resolve) => {
      if (!this.server) return resolve();
      this.server.mdns.respond({ answers, additionals }, (err) => {
        if (err) this.report(`cannot send: ${(err as NodeJS.ErrnoException).code ?? err.message}`);
        resolve();
      });
    });
  }

  query(questions: Question[]): void {
    this.server?.mdns.query({ questions }, (err) => {
      if (err) this.report(`cannot send: ${(err as NodeJS.ErrnoException).code ?? err.message}`);
    });
  }

  async stop(): Promise<void> {
    this.stopSelfCheck();
    const b = this.bonjour;
    this.bonjour = null;
    this.server = null;
    if (b) await new Promise<void>((resolve) => b.destroy(() => resolve()));
  }

  private report(reason: string): void {
    if (this.problem === null) {
      this.problem = reason;
      this.events.emit('problem', reason);
    } else {
      this.opts.log.debug({ reason }, 'mDNS trouble (already reported)');
    }
  }
}
