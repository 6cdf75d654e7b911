import { GatewayError } from '../errors.ts';

/**
 * The ESP32's OTA app slot with the `min_spiffs.csv` partition table the firmware builds with
 * (firmware/platformio.ini); the board refuses a larger offer, so the gateway refuses to publish one.
 */
export const OTA_SLOT_BYTES = 1_966_080;

/** The app image header (esp_image_format.h: esp_image_header_t) and the first segment's header. */
export const IMAGE_HEADER_BYTES = 24;
const SEGMENT_HEADER_BYTES = 8;
const ESP_IMAGE_MAGIC = 0xe9;
/** ESP_IMAGE_MAX_SEGMENTS. */
const MAX_SEGMENTS = 16;
/** esp_image_spi_mode_t: QIO, QOUT, DIO, DOUT, FAST_READ, SLOW_READ. */
const MAX_SPI_MODE = 5;

const refuse = (code: string, message: string): GatewayError => new GatewayError(code, message, 400, 'file');

/**
 * Cheap sanity of an image before it is published: what can be told from its size and its first
 * 32 bytes. It does not prove the image runs (only a board can, and it verifies the SHA-256),
 * but it catches the usual mistakes: publishing the `.elf`, a merged flash dump (it starts with
 * 0xFF padding before the bootloader), a text or archive file, an empty or truncated file.
 */
export function checkImage(head: Buffer, size: number, maxBytes = OTA_SLOT_BYTES): void {
  if (size === 0) throw refuse('image_empty', 'the file is empty');
  if (size > maxBytes) {
    const slot = maxBytes === OTA_SLOT_BYTES ? ' (min_spiffs.csv)' : '';
    throw refuse('image_too_large', `the image is ${size} bytes, larger than the board's OTA slot of ${maxBytes} bytes${slot}, firmware.max_image_bytes`);
  }
  if (head[0] !== ESP_IMAGE_MAGIC) {
    const what = head.subarray(0, 4).toString('latin1') === '\x7fELF' ? ' (it is an ELF file: publish the .bin PlatformIO writes next to it, .pio/build/esp32dev/firmware.bin)' : '';
    throw refuse('not_an_image', `not an ESP32 app image: the first byte is 0x${(head[0] ?? 0).toString(16).padStart(2, '0')}, an image starts with 0xE9${what}`);
  }
  if (size < IMAGE_HEADER_BYTES + SEGMENT_HEADER_BYTES) throw refuse('not_an_image', `not an ESP32 app image: ${size} bytes is shorter than an image header`);
  const segments = head[1];
  if (segments < 1 || segments > MAX_SEGMENTS) throw refuse('not_an_image', `not an ESP32 app image: the header names ${segments} segments (1-${MAX_SEGMENTS})`);
  if (head[2] > MAX_SPI_MODE) throw refuse('not_an_image', `not an ESP32 app image: SPI flash mode ${head[2]} is unknown`);
  const segmentLength = head.readUInt32LE(IMAGE_HEADER_BYTES + 4);
  if (segmentLength > size) throw refuse('not_an_image', `not an ESP32 app image: the first segment claims ${segmentLength} bytes, more than the file holds`);
}
