/**
 * Counts events in the last 60 seconds with 60 one-second buckets: O(1) to add, O(60) to read,
 * 2 small arrays per device. Cheap enough for intake's hot path.
 */
export class MinuteCounter {
  private readonly counts = new Uint32Array(60);
  private readonly seconds = new Float64Array(60).fill(-1);

  add(atMs: number, n = 1): void {
    const sec = Math.floor(atMs / 1000);
    const i = ((sec % 60) + 60) % 60;
    if (this.seconds[i] !== sec) {
      this.seconds[i] = sec;
      this.counts[i] = 0;
    }
    this.counts[i] += n;
  }

  /** Events whose second lies in (now - 60 s, now]. */
  total(nowMs: number): number {
    const now = Math.floor(nowMs / 1000);
    let sum = 0;
    for (let i = 0; i < 60; i++) {
      const s = this.seconds[i];
      if (s > now - 60 && s <= now) sum += this.counts[i];
    }
    return sum;
  }
}
