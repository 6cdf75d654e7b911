/**
 * Which setting a refusal's error code comes from, so `iotgw_limit_hits_total{limit}` names the
 * config key an operator would change. The whole table, with defaults and what a client sees, is
 * in docs/reliability.md ("Limits"). Limits that are not refusals are counted where they act:
 * `http.max_connections` (server.ts), the WebSocket pauses (websocket.ts).
 */
export const LIMIT_OF_CODE: Readonly<Record<string, string>> = {
  body_too_large: 'http.body_limit_bytes',
  request_timeout: 'http.request_timeout_ms',
  batch_too_large: 'ingest.max_batch',
  too_many_metrics: 'ingest.max_metrics',
  too_deep: 'ingest.max_depth',
  value_too_long: 'ingest.max_string_length',
  rate_limited: 'ingest.rate_limit.per_device_per_second',
  address_rate_limited: 'ingest.rate_limit.per_address_per_second',
};
