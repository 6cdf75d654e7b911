import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * One registry per gateway instance (not prom-client's global one), so several gateways in one
 * test process never share counters. Every component receives this object and owns its series;
 * the names are listed here so /metrics stays one coherent, documented set.
 */
export function createMetrics(opts: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'iotgw_process_' });
  const r = [registry];
  return {
    registry,
    readingsAccepted: new Counter({ name: 'iotgw_readings_accepted_total', help: 'Readings made durable and acknowledged, by transport', labelNames: ['transport'], registers: r }),
    readingsDuplicate: new Counter({ name: 'iotgw_readings_duplicate_total', help: 'Readings acknowledged again but stored once (retried sends)', registers: r }),
    readingsUnverified: new Counter({ name: 'iotgw_readings_unverified_total', help: 'Readings stored although their (boot_id, seq) lies in a part of the acknowledged-record forgotten at its bounds: possibly duplicates (gateway/buffer/README.md)', registers: r }),
    ackedRecordDevices: new Gauge({ name: 'iotgw_acked_record_devices', help: 'Devices in the acknowledged-record (boot_id, seq of acknowledged readings)', registers: r }),
    ackedRecordEvictions: new Counter({ name: 'iotgw_acked_record_evictions_total', help: 'Parts of the acknowledged-record dropped at its bounds, by what (boot, interval) or aged out (age)', labelNames: ['what'], registers: r }),
    readingsRejected: new Counter({ name: 'iotgw_readings_rejected_total', help: 'Requests or messages refused, by error code', labelNames: ['reason'], registers: r }),
    limitHits: new Counter({ name: 'iotgw_limit_hits_total', help: 'Times a configured limit refused, cut off or paused a client, by its config key (docs/reliability.md, Limits)', labelNames: ['limit'], registers: r }),
    readingsDropped: new Counter({ name: 'iotgw_readings_dropped_total', help: 'Buffered readings dropped before upload, by reason', labelNames: ['reason'], registers: r }),
    recordsQuarantined: new Counter({ name: 'iotgw_records_quarantined_total', help: 'Unreadable stored records set aside, by store', labelNames: ['store'], registers: r }),
    storeMode: new Gauge({ name: 'iotgw_store_mode', help: '1 for the store intake currently writes to', labelNames: ['store'], registers: r }),
    storeFailovers: new Counter({ name: 'iotgw_store_failovers_total', help: 'Switches of the intake store, by target', labelNames: ['to'], registers: r }),
    storeWriteSeconds: new Histogram({ name: 'iotgw_store_write_seconds', help: 'Time to make a write durable, by store', labelNames: ['store'], buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: r }),
    bufferReadings: new Gauge({ name: 'iotgw_buffer_readings', help: 'Readings waiting for upload, by store', labelNames: ['store'], registers: r }),
    bufferBytes: new Gauge({ name: 'iotgw_buffer_bytes', help: 'Approximate bytes waiting for upload, by store', labelNames: ['store'], registers: r }),
    bufferWindows: new Gauge({ name: 'iotgw_buffer_windows', help: 'Closed and open windows waiting for upload, by store', labelNames: ['store'], registers: r }),
    httpDuration: new Histogram({ name: 'iotgw_http_request_duration_seconds', help: 'HTTP request latency', labelNames: ['method', 'route', 'status'], buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5], registers: r }),
    wsConnections: new Gauge({ name: 'iotgw_ws_connections', help: 'Open WebSocket connections', registers: r }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
