import { Counter, Gauge, type Registry } from 'prom-client';

/** The uploader's series, registered on the gateway's registry (one per instance). */
export function createUploadMetrics(registry: Registry) {
  const r = [registry];
  const get = <T>(name: string, make: () => T): T => (registry.getSingleMetric(name) as T | undefined) ?? make();
  return {
    lastSuccess: get('iotgw_upload_last_success_timestamp_seconds', () => new Gauge({ name: 'iotgw_upload_last_success_timestamp_seconds', help: 'Unix time of the last upload pass that left nothing closed behind (0: never)', registers: r })),
    errors: get('iotgw_upload_errors_total', () => new Counter({ name: 'iotgw_upload_errors_total', help: 'Upload failures, by kind (transient: retried with backoff; permanent: refused by Atlas: a part set aside in the quarantine, or credentials)', labelNames: ['kind'], registers: r })),
    readings: get('iotgw_upload_readings_total', () => new Counter({ name: 'iotgw_upload_readings_total', help: 'Readings acknowledged by Atlas and deleted locally', registers: r })),
    documents: get('iotgw_upload_documents_total', () => new Counter({ name: 'iotgw_upload_documents_total', help: 'group_hours parts acknowledged by Atlas (replays count again)', registers: r })),
    queuedWindows: get('iotgw_upload_queued_windows', () => new Gauge({ name: 'iotgw_upload_queued_windows', help: 'Closed windows waiting for upload', registers: r })),
    queuedBytes: get('iotgw_upload_queued_bytes', () => new Gauge({ name: 'iotgw_upload_queued_bytes', help: 'Approximate bytes of closed windows waiting for upload', registers: r })),
    queuedReadings: get('iotgw_upload_queued_readings', () => new Gauge({ name: 'iotgw_upload_queued_readings', help: 'Readings in closed windows waiting for upload', registers: r })),
    quarantineParts: get('iotgw_upload_quarantine_parts', () => new Gauge({ name: 'iotgw_upload_quarantine_parts', help: 'group_hours parts Atlas refused, set aside until iotgw upload --retry-quarantine', registers: r })),
    quarantineReadings: get('iotgw_upload_quarantine_readings', () => new Gauge({ name: 'iotgw_upload_quarantine_readings', help: 'Readings in the quarantined parts', registers: r })),
    quarantinedParts: get('iotgw_upload_quarantined_parts_total', () => new Counter({ name: 'iotgw_upload_quarantined_parts_total', help: 'Parts Atlas refused and the uploader set aside in the quarantine (a replay refused again counts again)', registers: r })),
    duplicatesDropped: get('iotgw_upload_duplicates_dropped_total', () => new Counter({ name: 'iotgw_upload_duplicates_dropped_total', help: 'Readings left out of a part because Atlas held them in another part of this gateway already', registers: r })),
    uplinkBytesPerSecond: get('iotgw_upload_uplink_bytes_per_second', () => new Gauge({ name: 'iotgw_upload_uplink_bytes_per_second', help: 'Measured rate of upload writes to Atlas (0: not measured yet); part size and socket timeout follow it', registers: r })),
    atlasUp: get('iotgw_upload_atlas_up', () => new Gauge({ name: 'iotgw_upload_atlas_up', help: '1 when the last contact with Atlas succeeded, 0 when it failed, -1 when upload is disabled', registers: r })),
  };
}

export type UploadMetrics = ReturnType<typeof createUploadMetrics>;
