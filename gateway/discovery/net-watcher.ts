import { EventEmitter } from 'node:events';
import { hostAddresses, type HostAddresses } from './names.ts';

/**
 * Polls `os.networkInterfaces()` and emits `change` (next, previous) when the set of addresses to
 * publish changes: an interface came up or went down, DHCP handed out a new lease. Linux has no
 * portable change notification Node can use, and a poll every few seconds costs microseconds.
 */
export class NetWatcher extends EventEmitter<{ change: [HostAddresses, HostAddresses] }> {
  private timer: NodeJS.Timeout | null = null;
  private current: HostAddresses;

  constructor(private readonly interfaces: readonly string[], private readonly pollMs: number) {
    super();
    this.current = hostAddresses(interfaces);
  }

  get addresses(): HostAddresses {
    return this.current;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.check(), this.pollMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Checks now; true when the addresses changed. */
  check(): boolean {
    const next = hostAddresses(this.interfaces);
    const prev = this.current;
    if (next.ipv4.join() === prev.ipv4.join() && next.ipv6.join() === prev.ipv6.join()) return false;
    this.current = next;
    this.emit('change', next, prev);
    return true;
  }
}
