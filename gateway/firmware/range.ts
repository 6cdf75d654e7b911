import { GatewayError } from '../errors.ts';

/**
 * The one Range form a board sends to resume (`bytes=N-`), and `bytes=N-M`; absent: the whole
 * image. Anything else, or a start past the end, is a 416 naming the image's size, so the board
 * starts over rather than guessing.
 */
export function byteRange(header: string | undefined, size: number): { start: number; end: number; partial: boolean } {
  if (header === undefined) return { start: 0, end: size - 1, partial: false };
  const m = /^bytes=(\d{1,15})-(\d{0,15})$/.exec(header.trim());
  if (!m) throw rangeError(`Range "${header.slice(0, 64)}" is not of the form bytes=N- or bytes=N-M`, size);
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) throw rangeError(`Range "${header}" is outside the image's ${size} bytes`, size);
  return { start, end, partial: true };
}

function rangeError(message: string, size: number): GatewayError & { size: number } {
  return Object.assign(new GatewayError('range_not_satisfiable', message, 416, 'range'), { size });
}
