import { Duplex } from 'node:stream';

const LINGER_MS = 2000;

/**
 * An MQTT connection that never hands the broker a packet larger than `maxBytes`.
 *
 * aedes' parser (mqtt-packet) buffers a whole packet before it emits it, whatever the length its
 * header announces (MQTT allows 256 MB), and neither has a size option. This reads the fixed
 * header of each packet as the bytes pass (type byte, then the 1-4 byte remaining length), passes
 * the packets before an oversized one through, and stops reading at the oversized one's first
 * byte: `onOversized` decides what happens to the connection. Writes go straight to `inner`.
 */
export class PacketLimitedConnection extends Duplex {
  private readonly scanner: PacketScanner;
  private stopped = false;

  constructor(
    private readonly inner: Duplex,
    maxBytes: number,
    /** The peer's address, for the inventory (aedes' client reads it from its connection). */
    readonly remoteAddress: string | undefined,
    private readonly onOversized: (announcedBytes: number) => void,
  ) {
    super({ allowHalfOpen: false });
    this.scanner = new PacketScanner(maxBytes);
    inner.on('data', (chunk: Buffer) => this.onData(chunk));
    inner.on('end', () => this.push(null));
    inner.on('error', (err) => this.destroy(err));
    inner.on('close', () => this.destroy());
  }

  private onData(chunk: Buffer): void {
    if (this.stopped) return;
    const cut = this.scanner.feed(chunk);
    if (cut === -1) {
      if (!this.push(chunk)) this.inner.pause();
      return;
    }
    this.stopped = true;
    this.inner.pause();
    if (cut > 0) this.push(chunk.subarray(0, cut));
    this.onOversized(this.scanner.announced);
  }

  override _read(): void {
    if (!this.stopped) this.inner.resume();
  }

  // Bytes go to `inner` at once, as they would on the bare socket, so a PUBACK written just
  // before the connection is closed is not left in this stream's buffer; `inner`'s own
  // backpressure (its 'drain') is passed on.
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.inner.write(chunk)) cb();
    else this.inner.once('drain', () => cb());
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    this._write(chunks.length === 1 ? chunks[0].chunk : Buffer.concat(chunks.map((c) => c.chunk)), 'binary', cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.inner.end(cb);
  }

  /**
   * Closes gracefully: FIN after what was written (the last PUBACKs), and the socket released once
   * the peer closed too or after `LINGER_MS`. Closing at once while the peer's next packets sit
   * unread makes the kernel answer with a reset that can discard those PUBACKs.
   */
  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.stopped = true;
    if (!this.inner.destroyed) {
      this.inner.resume(); // read and drop what still arrives, so the close is a FIN, not a reset
      this.inner.end();
      setTimeout(() => this.inner.destroy(), LINGER_MS).unref();
    }
    cb(err);
  }
}

/**
 * Follows MQTT packet boundaries through a byte stream: a type byte, the remaining length
 * (7 bits per byte, high bit = more, at most 4 bytes), then that many bytes.
 */
export class PacketScanner {
  private phase: 'type' | 'length' | 'body' = 'type';
  private length = 0;
  private multiplier = 1;
  private lengthBytes = 0;
  private left = 0;
  /** The remaining length the refused packet announced (Infinity for a malformed one). */
  announced = 0;

  constructor(private readonly maxBytes: number) {}

  /** -1 when the chunk holds no oversized packet; else the offset in it where that packet starts (0 if in an earlier chunk). */
  feed(chunk: Buffer): number {
    let start = 0;
    let i = 0;
    while (i < chunk.length) {
      if (this.phase === 'body') {
        const take = Math.min(this.left, chunk.length - i);
        this.left -= take;
        i += take;
        if (this.left === 0) this.phase = 'type';
        continue;
      }
      if (this.phase === 'type') {
        start = i++;
        this.phase = 'length';
        this.length = 0;
        this.multiplier = 1;
        this.lengthBytes = 0;
        continue;
      }
      const b = chunk[i++];
      this.length += (b & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      if (++this.lengthBytes === 4 && b & 0x80) return this.refuse(Infinity, start);
      if (b & 0x80) continue;
      if (this.length > this.maxBytes) return this.refuse(this.length, start);
      this.left = this.length;
      this.phase = this.left > 0 ? 'body' : 'type';
    }
    return -1;
  }

  private refuse(announced: number, start: number): number {
    this.announced = announced;
    return start;
  }
}
