import { Counter, type Registry } from 'prom-client';

/** The firmware series beside the inventory's `iotgw_firmware_devices{state}` gauge (inventory/metrics.ts). */
export function firmwareMetrics(registry: Registry) {
  return {
    downloads: new Counter({ name: 'iotgw_firmware_downloads_total', help: 'Image downloads (GET /firmware/<sha256>.bin), by how they ended: complete, or interrupted (the board resumes with Range)', labelNames: ['result'], registers: [registry] }),
    bytes: new Counter({ name: 'iotgw_firmware_download_bytes_total', help: 'Image bytes sent to boards', registers: [registry] }),
    offers: new Counter({ name: 'iotgw_firmware_offers_total', help: 'Acknowledgements that carried a firmware offer', registers: [registry] }),
  };
}

export type FirmwareMetrics = ReturnType<typeof firmwareMetrics>;
