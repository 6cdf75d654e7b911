import uPlot from 'uplot';
import { api } from './api.ts';
import { setText } from './dom.ts';
import type { Reading } from './model.ts';

const HOUR_MS = 3600_000;

/**
 * The "last hour" chart of one metric of one device (uPlot, served from the gateway). History
 * comes from `GET devices/:id/readings?from=`, then each reading of the event stream is appended.
 */
export class MetricChart {
  private plot: uPlot | null = null;
  private device: string | null = null;
  private metric: string | null = null;
  private times: number[] = [];
  private values: number[] = [];
  private loadSeq = 0;

  constructor(private readonly box: HTMLElement, private readonly note: HTMLElement) {
    new ResizeObserver(() => this.plot?.setSize({ width: this.width(), height: 240 })).observe(box);
    // Colours come from the page's CSS variables: rebuild when the system switches light/dark.
    matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => this.draw());
  }

  get selection(): { device: string | null; metric: string | null } {
    return { device: this.device, metric: this.metric };
  }

  /** Shows `metric` of `device`, loading its last hour from the buffer. */
  async show(device: string | null, metric: string | null): Promise<void> {
    if (device === this.device && metric === this.metric) return;
    this.device = device;
    this.metric = metric;
    this.times = [];
    this.values = [];
    const seq = ++this.loadSeq;
    if (!device || !metric) {
      this.draw();
      this.note.textContent = device ? 'this device sends no numeric metric yet' : 'no device to chart yet';
      return;
    }
    this.note.textContent = 'loading…';
    const from = new Date(Date.now() - HOUR_MS).toISOString();
    const body = await api<{ readings: Reading[] }>(`devices/${encodeURIComponent(device)}/readings?from=${encodeURIComponent(from)}&limit=5000`);
    if (seq !== this.loadSeq) return; // the choice changed while loading
    const points = body.readings.map((r) => [Date.parse(String(r.timestamp)), r[metric]] as const)
      .filter((p): p is readonly [number, number] => Number.isFinite(p[0]) && typeof p[1] === 'number')
      .sort((a, b) => a[0] - b[0]);
    this.times = points.map((p) => p[0] / 1000);
    this.values = points.map((p) => p[1]);
    this.draw();
  }

  /** A reading from the event stream: appended when it is the charted device's. */
  add(r: Reading): void {
    if (r.device_id !== this.device || !this.metric) return;
    const v = r[this.metric];
    const t = Date.parse(String(r.timestamp)) / 1000;
    if (typeof v !== 'number' || !Number.isFinite(t) || (this.times.length && t <= this.times[this.times.length - 1])) return;
    this.times.push(t);
    this.values.push(v);
    const oldest = (Date.now() - HOUR_MS) / 1000;
    while (this.times.length && this.times[0] < oldest) {
      this.times.shift();
      this.values.shift();
    }
    if (this.plot) this.plot.setData([this.times, this.values]);
    else this.draw();
    this.describe();
  }

  private width(): number {
    return Math.max(200, this.box.clientWidth);
  }

  private draw(): void {
    this.plot?.destroy();
    this.plot = null;
    this.describe();
    if (!this.metric || this.times.length === 0) return;
    const css = getComputedStyle(document.documentElement);
    const color = (name: string) => css.getPropertyValue(name).trim();
    const axis = { stroke: color('--fg'), grid: { stroke: color('--grid'), width: 1 }, ticks: { stroke: color('--grid'), width: 1 } };
    this.plot = new uPlot({
      width: this.width(),
      height: 240,
      // Always the last hour, so one reading is a dot at the right, not a chart of a single instant.
      scales: { x: { time: true, range: () => [Date.now() / 1000 - HOUR_MS / 1000, Date.now() / 1000] } },
      series: [{}, { label: this.metric, stroke: color('--accent'), width: 2, points: { show: this.times.length <= 120 } }],
      axes: [axis, { ...axis, size: 64 }],
      legend: { show: true },
    }, [this.times, this.values], this.box);
  }

  /** The chart's text alternative, for screen readers and for the note under it. */
  private describe(): void {
    if (!this.device || !this.metric) return;
    const n = this.values.length;
    const text = n === 0
      ? `${this.metric} of ${this.device}: no readings in the last hour`
      : `${this.metric} of ${this.device}, last hour: ${n} reading${n === 1 ? '' : 's'}, latest ${this.values[n - 1]}, min ${Math.min(...this.values)}, max ${Math.max(...this.values)}`;
    this.box.setAttribute('role', 'img');
    this.box.setAttribute('aria-label', text);
    setText(this.note, text);
  }
}
