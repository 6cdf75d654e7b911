import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A file shaped like an ESP32 app image as far as the gateway looks (esp_image_header_t: magic
 * 0xE9, one segment, DIO flash mode, then the segment's header whose length fits the file),
 * with `text` inside it (the version string, or the simulator's CANNOT-REPORT marker) and a
 * fill byte that makes images of the same size differ.
 */
export function esp32Image(size: number, opts: { fill?: number; text?: string } = {}): Buffer {
  const b = Buffer.alloc(size, opts.fill ?? 0x5a);
  b[0] = 0xe9;
  b[1] = 1;
  b[2] = 2;
  b[3] = 0x20;
  b.writeUInt32LE(0x400d0000, 4);
  b.fill(0, 8, 24);
  b.writeUInt32LE(0x3f400020, 24);
  b.writeUInt32LE(size - 32, 28);
  if (opts.text) b.write(opts.text, 64, 'latin1');
  return b;
}

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

export function writeImage(dir: string, name: string, image: Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, image);
  return path;
}
