import { sleep } from '../support/ports.ts';

/**
 * Boards as the chaos scenarios need them: each device numbers its readings with `(boot_id, seq)`,
 * keeps what is not acknowledged in a ring (as the firmware does) and sends it again, oldest
 * first, until it gets a 202. It records exactly which readings were acknowledged, so a scenario
 * can account for each one afterwards. Answers that are not 202 are counted by status: 429 and
 * 503 wait for Retry-After, a network error (the gateway was killed) waits a little; any other
 * refusal would be a bug of the scenario, and is kept in `refused` for the report.
 */
export interface FleetOptions {
  /** Where to send; read per request, so a restarted gateway on the same port is found again. */
  url: () => string;
  devices: number;
  boot: string;
  /** Readings per second per device. */
  rate: number;
  /** Most readings per request. */
  batch?: number;
  /** The device's clock for `ts`; null: this device sends no `ts`. Default: the test's own clock. */
  deviceClock?: (device: number) => (() => number) | null;
  group?: (device: number) => string;
  headers?: Record<string, string>;
}

interface Pending {
  id: string;
  body: Record<string, unknown>;
}

export class Fleet {
  /** Reading id → the body that was acknowledged. */
  readonly acked = new Map<string, Record<string, unknown>>();
  readonly answers: Record<string, number> = {};
  readonly refused: string[] = [];
  produced = 0;
  private producing = false;
  private loops: Promise<void>[] = [];
  private readonly rings: Pending[][] = [];

  constructor(private readonly o: FleetOptions) {}

  start(): this {
    this.producing = true;
    for (let d = 0; d < this.o.devices; d++) {
      this.rings.push([]);
      this.loops.push(this.run(d));
    }
    return this;
  }

  /** Stops sampling, then waits until every ring is empty (each reading acknowledged) or `timeoutMs` passes. */
  async drain(timeoutMs = 120_000): Promise<void> {
    this.producing = false;
    const deadline = Date.now() + timeoutMs;
    this.deadline = deadline;
    await Promise.all(this.loops);
    const left = this.rings.reduce((n, r) => n + r.length, 0);
    if (left > 0) throw new Error(`${left} readings still unacknowledged after ${timeoutMs} ms; answers ${JSON.stringify(this.answers)}`);
  }

  get pending(): number {
    return this.rings.reduce((n, r) => n + r.length, 0);
  }

  private deadline = Infinity;

  private async run(d: number): Promise<void> {
    const ring = this.rings[d];
    const device_id = `chaos-${d}`;
    const group_id = this.o.group?.(d) ?? `grp-${d % 3}`;
    const clock = this.o.deviceClock ? this.o.deviceClock(d) : Date.now;
    const every = 1000 / this.o.rate;
    let seq = 0;
    let next = Date.now();
    while ((this.producing || ring.length > 0) && Date.now() < this.deadline) {
      while (this.producing && Date.now() >= next) {
        const body: Record<string, unknown> = { device_id, group_id, boot_id: this.o.boot, seq, v: Math.round(Math.random() * 1000) / 10 };
        if (clock) body.ts = clock();
        ring.push({ id: `dev:${device_id}/${this.o.boot}/${seq}`, body });
        seq++;
        this.produced++;
        next += every;
      }
      if (ring.length === 0) {
        await sleep(Math.max(1, next - Date.now()));
        continue;
      }
      const sending = ring.slice(0, this.o.batch ?? 20);
      const wait = await this.send(sending);
      if (wait === 0) {
        ring.splice(0, sending.length);
        for (const p of sending) this.acked.set(p.id, p.body);
      } else {
        await sleep(wait);
      }
    }
  }

  /** 0 when acknowledged, else how long to wait before sending the same readings again. */
  private async send(items: Pending[]): Promise<number> {
    let status = 0;
    let retryAfter = 0;
    let text = '';
    try {
      const res = await fetch(`${this.o.url()}/telemetry`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...this.o.headers },
        body: JSON.stringify(items.map((p) => p.body)),
        signal: AbortSignal.timeout(10_000),
      });
      status = res.status;
      retryAfter = Number(res.headers.get('retry-after') ?? 0);
      text = await res.text();
    } catch {
      status = 0;
    }
    const key = status === 0 ? 'network' : String(status);
    this.answers[key] = (this.answers[key] ?? 0) + 1;
    if (status === 202) return 0;
    if (status === 429 || status === 503) return Math.min(retryAfter * 1000, 2000) || 500;
    if (status !== 0) this.refused.push(`${status} ${text.slice(0, 200)}`);
    return 200;
  }
}

