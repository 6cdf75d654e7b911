import { Counter, Gauge, type Registry } from 'prom-client';
import { DEVICE_STATES, FIRMWARE_STATES, type DeviceState, type FirmwareState } from './types.ts';

/** The inventory's series, created on the gateway's registry (reused if this registry already has them). */
export function inventoryMetrics(registry: Registry) {
  const changes = (registry.getSingleMetric('iotgw_device_state_changes_total') as Counter<'state'> | undefined)
    ?? new Counter({ name: 'iotgw_device_state_changes_total', help: 'Device state changes, by the state entered', labelNames: ['state'], registers: [registry] });
  const devices = (registry.getSingleMetric('iotgw_devices') as Gauge<'state'> | undefined)
    ?? new Gauge({ name: 'iotgw_devices', help: 'Devices in the inventory, by state', labelNames: ['state'], registers: [registry] });
  const firmware = (registry.getSingleMetric('iotgw_firmware_devices') as Gauge<'state'> | undefined)
    ?? new Gauge({ name: 'iotgw_firmware_devices', help: 'Devices by the state of their firmware update (pending, downloading, failed, updated, rolled_back); devices with no update to tell are not counted', labelNames: ['state'], registers: [registry] });
  for (const s of FIRMWARE_STATES) firmware.set({ state: s }, 0);
  for (const s of DEVICE_STATES) {
    changes.inc({ state: s }, 0);
    devices.set({ state: s }, 0);
  }
  return {
    changed: (state: DeviceState) => changes.inc({ state }),
    setCounts: (counts: Record<DeviceState, number>) => { for (const s of DEVICE_STATES) devices.set({ state: s }, counts[s]); },
    setFirmwareCounts: (counts: Record<FirmwareState, number>) => { for (const s of FIRMWARE_STATES) firmware.set({ state: s }, counts[s]); },
  };
}
