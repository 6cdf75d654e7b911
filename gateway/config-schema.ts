/**
 * The configuration's shape and defaults, as data. `config.ts` walks it to validate a YAML file,
 * so every error names its path (`redis.url: must be a redis:// URL`), and `iotgw check-config`
 * prints the effective result. Keys are snake_case, as in the YAML file.
 */
export type Rule =
  | { readonly type: 'string'; readonly default: string | null; readonly nullable?: boolean; readonly pattern?: RegExp; readonly hint?: string; readonly secret?: boolean; readonly oneOf?: readonly string[] }
  | { readonly type: 'int'; readonly default: number | null; readonly nullable?: boolean; readonly min: number; readonly max: number }
  | { readonly type: 'bool'; readonly default: boolean }
  | { readonly type: 'strings'; readonly default: readonly string[] }
  | { readonly type: 'map'; readonly default: Readonly<Record<string, string>>; readonly secret?: boolean };

export type Section = { readonly [key: string]: Rule | Section };

type ValueOf<R> = R extends { type: 'string'; nullable: true } ? string | null
  : R extends { type: 'string'; oneOf: readonly (infer O)[] } ? O
  : R extends { type: 'string' } ? string
  : R extends { type: 'int'; nullable: true } ? number | null
  : R extends { type: 'int' } ? number
  : R extends { type: 'bool' } ? boolean
  : R extends { type: 'strings' } ? string[]
  : R extends { type: 'map' } ? Record<string, string>
  : never;

/** The config object's type, derived from the schema so the two cannot drift apart. */
export type ConfigOf<S> = { -readonly [K in keyof S]: S[K] extends { type: string } ? ValueOf<S[K]> : ConfigOf<S[K]> };

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

export const schema = {
  gateway_id: { type: 'string', default: null, nullable: true, pattern: /^[A-Za-z0-9._:-]{1,64}$/, hint: '1-64 characters of A-Z a-z 0-9 . _ : -' },
  data_dir: { type: 'string', default: null, nullable: true },
  window_seconds: { type: 'int', default: 3600, min: 1, max: 86400 },
  shutdown_timeout_ms: { type: 'int', default: 10000, min: 100, max: 600000 },
  http: {
    host: { type: 'string', default: '0.0.0.0' },
    port: { type: 'int', default: 3000, min: 0, max: 65535 },
    body_limit_bytes: { type: 'int', default: 256 * KiB, min: 1 * KiB, max: 64 * MiB },
    headers_timeout_ms: { type: 'int', default: 10000, min: 100, max: 600000 },
    request_timeout_ms: { type: 'int', default: 30000, min: 100, max: 600000 },
    keep_alive_timeout_ms: { type: 'int', default: 65000, min: 100, max: 600000 },
    /** Open TCP connections (HTTP and WebSocket together); past it new ones are closed at once. */
    max_connections: { type: 'int', default: 1024, min: 1, max: 1000000 },
    /**
     * When set, every read of the JSON API (`GET /devices`, `/stats`, `/redis`, `/events`,
     * `/metrics`, ...) and `POST /upload/now` need `Authorization: Bearer <read_token>`; the
     * health probes, the status page's own files and device intake stay open (status/read-token.ts).
     * null (default): the read API is open, as the original API was.
     */
    read_token: { type: 'string', default: null, nullable: true, secret: true, pattern: /^[\x21-\x7e]{8,256}$/, hint: 'must be 8-256 visible ASCII characters (no spaces)' },
  },
  ingest: {
    max_batch: { type: 'int', default: 1000, min: 1, max: 100000 },
    max_metrics: { type: 'int', default: 64, min: 1, max: 10000 },
    max_depth: { type: 'int', default: 3, min: 1, max: 32 },
    max_string_length: { type: 'int', default: 1024, min: 16, max: 1 * MiB },
    /** Device clocks may run ahead a little; a `ts` further ahead than this is ignored for windowing. */
    max_clock_skew_seconds: { type: 'int', default: 300, min: 0, max: 86400 },
    /** A device-time reading older than this is filed under its receive time instead. */
    max_late_seconds: { type: 'int', default: 7 * 86400, min: 0, max: 365 * 86400 },
    auth: {
      /** `none`: open intake (the original API); `keys`: every device sends a key from `device_keys` or `shared_key`. */
      mode: { type: 'string', default: 'none', oneOf: ['none', 'keys'] },
      shared_key: { type: 'string', default: null, nullable: true, secret: true },
      device_keys: { type: 'map', default: {}, secret: true },
    },
    rate_limit: {
      per_device_per_second: { type: 'int', default: 50, min: 0, max: 1000000 },
      burst: { type: 'int', default: 500, min: 1, max: 10000000 },
      /**
       * Readings per second from one client address, whatever device ids it sends for. 0 (default):
       * off, because an MQTT bridge, a NAT or a test client legitimately sends a whole fleet from
       * one address; set it where untrusted hosts share the boards' network.
       */
      per_address_per_second: { type: 'int', default: 0, min: 0, max: 10000000 },
      per_address_burst: { type: 'int', default: 5000, min: 1, max: 100000000 },
    },
    ws: {
      ping_interval_ms: { type: 'int', default: 30000, min: 100, max: 600000 },
      /** A client that leaves this many acks unread is paused until it reads them. */
      max_buffered_bytes: { type: 'int', default: 1 * MiB, min: 1 * KiB, max: 256 * MiB },
      max_in_flight: { type: 'int', default: 64, min: 1, max: 100000 },
    },
  },
  redis: {
    url: { type: 'string', default: 'none', pattern: /^(none|rediss?:\/\/.+|unix:\/\/.+)$/, hint: 'must be a redis:// URL or none' },
    key_prefix: { type: 'string', default: 'iotgw:' },
    /** A Redis write slower than this sends intake to SQLite (rule 2). */
    write_timeout_ms: { type: 'int', default: 500, min: 10, max: 60000 },
    health_interval_ms: { type: 'int', default: 1000, min: 50, max: 60000 },
    /**
     * A device's newest reading (`GET /redis`) is rewritten in Redis at most this often; the
     * readings themselves are stored at once, and the answer shows the newest reading at once.
     * 0: with every reading (costlier for Redis). 10 s since issue 18: at one reading a second per
     * device, 1 s rewrote the entry (~0.5 KB more in the AOF) with nearly every reading.
     */
    latest_every_ms: { type: 'int', default: 10_000, min: 0, max: 60000 },
    /**
     * false: when Redis fails, intake answers 503 and boards keep readings in their ring buffer,
     * instead of writing to SQLite (for SD cards that must not take the write load). The systemd
     * watchdog then follows Redis's health.
     */
    sqlite_fallback: { type: 'bool', default: true },
  },
  sqlite: {
    path: { type: 'string', default: null, nullable: true },
    /**
     * Group commit over time (issue 18): a group commits this many ms after its FIRST append (so
     * it bounds the added ack latency), or at once when `group_commit_max` appends wait, or, while
     * the previous commit's fsync runs, the moment it returns. Each commit costs about two file
     * system pages of WAL whatever it holds, so at site rates this sets the bytes per reading:
     * 50 boards at 10 and 50 readings/s measured 8.5x and 3.0x the JSON with 100, p99 ack 114 ms
     * (bench/sd-writes.ts; 0 gave 17x and 23x). Under closed-loop load groups fill at once, and
     * a client that waits for each answer commits at once (sqlite-store.ts FOLLOW_MS).
     */
    group_commit_ms: { type: 'int', default: 100, min: 0, max: 1000 },
    /** A group commits at once when this many append calls wait, without waiting for group_commit_ms. */
    group_commit_max: { type: 'int', default: 16, min: 1, max: 100000 },
    /** The buffer file's page size, a power of two (SQLite ignores others); a file with another one is rewritten once at start (VACUUM). */
    page_size: { type: 'int', default: 1024, min: 512, max: 65536 },
    synchronous: { type: 'string', default: 'full', oneOf: ['full', 'normal'] },
    /**
     * A device's row in `latest` (`GET /redis`) is rewritten at most this often; what waits is
     * kept in memory and shown at once, and a crash loses at most this much of the view (the
     * next reading repairs it). Each rewrite is one more page in a commit: 50 devices at 1/s
     * measured 129 GiB/day written with 0 or 1000, 113 with 10000 (docs/operations.md).
     */
    latest_every_ms: { type: 'int', default: 10_000, min: 0, max: 600_000 },
    /**
     * Under load, copy the WAL into the database file from a worker thread (~10 MB of RSS while it
     * runs) instead of inside a commit on the event loop (buffer/wal-checkpointer.ts).
     */
    checkpoint_worker: { type: 'bool', default: true },
  },
  buffer: {
    /** Closed windows older than this move from Redis to SQLite so Redis memory stays bounded. */
    spill_after_seconds: { type: 'int', default: 2 * 3600, min: 0, max: 365 * 86400 },
    max_bytes: { type: 'int', default: 2 * GiB, min: 1 * MiB, max: Number.MAX_SAFE_INTEGER },
    max_age_seconds: { type: 'int', default: 14 * 86400, min: 60, max: 3650 * 86400 },
    maintenance_interval_ms: { type: 'int', default: 30000, min: 100, max: 3600000 },
  },
  mongodb: {
    uri: { type: 'string', default: null, nullable: true, pattern: /^mongodb(\+srv)?:\/\/.+/, hint: 'must be a mongodb:// or mongodb+srv:// URI', secret: true },
    database: { type: 'string', default: 'iot_database', pattern: /^[^/\\. "$]{1,63}$/, hint: 'must be a MongoDB database name' },
    connect_timeout_ms: { type: 'int', default: 10000, min: 100, max: 600000 },
    server_selection_timeout_ms: { type: 'int', default: 10000, min: 100, max: 600000 },
    /**
     * The least time an Atlas request may wait without progress (the driver's socket timeout).
     * Upload writes get more once the measured uplink says a part takes longer (upload/uplink.ts).
     */
    socket_timeout_ms: { type: 'int', default: 60000, min: 500, max: 3600000 },
  },
  upload: {
    interval_seconds: { type: 'int', default: 3600, min: 1, max: 86400 },
    part_max_bytes: { type: 'int', default: 8 * MiB, min: 1 * KiB, max: 15 * MiB },
    read_page: { type: 'int', default: 1000, min: 10, max: 1000000 },
    retry_base_ms: { type: 'int', default: 1000, min: 1, max: 3600000 },
    retry_max_ms: { type: 'int', default: 300000, min: 1, max: 86400000 },
  },
  discovery: {
    enabled: { type: 'bool', default: true },
    backend: { type: 'string', default: 'bonjour', oneOf: ['bonjour', 'avahi'] },
    interfaces: { type: 'strings', default: [] },
    instance_name: { type: 'string', default: null, nullable: true },
    host_name: { type: 'string', default: 'iotgw', pattern: /^[A-Za-z0-9-]{1,63}$/, hint: 'must be a DNS label (letters, digits, -)' },
    announce_interval_seconds: { type: 'int', default: 60, min: 1, max: 3600 },
    expected_interval_seconds: { type: 'int', default: 60, min: 1, max: 86400 },
    stale_after_seconds: { type: 'int', default: 180, min: 1, max: 86400 },
    offline_after_seconds: { type: 'int', default: 600, min: 1, max: 7 * 86400 },
  },
  systemd: {
    watchdog: { type: 'bool', default: true },
    status_interval_ms: { type: 'int', default: 10000, min: 100, max: 3600000 },
  },
  log: {
    level: { type: 'string', default: 'info', oneOf: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] },
  },
  /** Over-the-air firmware updates (docs/firmware-updates.md); images are published with `iotgw firmware add`. */
  firmware: {
    /** A board whose update to an image failed this many times (each a download and a failed check) is not offered that image again until `iotgw firmware resume`. */
    max_failures: { type: 'int', default: 3, min: 1, max: 1000 },
    /**
     * The largest image `iotgw firmware add` publishes: the boards' OTA slot. The default is the
     * slot of `min_spiffs.csv`, the partition table firmware/platformio.ini builds with; boards
     * with a larger flash and partition table can take more (the board checks its own slot too).
     */
    max_image_bytes: { type: 'int', default: 1_966_080, min: 1024, max: 64 * MiB },
  },
  /** MQTT intake (docs/mqtt.md): an embedded broker, a bridge to a site's broker, or both. */
  mqtt: {
    /** Port of the embedded broker; null (default): no broker. 0 picks a free port (tests). */
    listen_port: { type: 'int', default: null, nullable: true, min: 0, max: 65535 },
    /** Address the broker binds; null: the same as `http.host`. */
    host: { type: 'string', default: null, nullable: true },
    /**
     * Where boards publish readings. Placeholders fill a reading's `device_id` / `group_id` when the
     * payload lacks them; a payload that names others is refused. Topics under the first level are
     * intake topics (one that does not match is refused); other topics are an ordinary broker's.
     */
    topic: {
      type: 'string', default: 'iotgw/{group_id}/{device_id}/telemetry',
      pattern: /^(?!\$)(?!.*\{group_id\}.*\{group_id\})(?!.*\{device_id\}.*\{device_id\})[^/#+{}]+(?:\/(?:[^/#+{}]+|\{group_id\}|\{device_id\}))*$/,
      hint: 'must start with a fixed level, then fixed levels or whole-level {group_id} / {device_id} placeholders (each at most once); no + or #, not under $',
    },
    /** MQTT over WebSocket at `/mqtt` on the HTTP port, when the broker is on. */
    websocket: { type: 'bool', default: true },
    /** The largest MQTT packet the broker takes (topic and payload); a larger one closes the connection. */
    max_packet_bytes: { type: 'int', default: 256 * KiB, min: 1 * KiB, max: 64 * MiB },
    /** Bridge mode: subscribe to a site's broker with a persistent session; on when `url` is set. */
    subscribe: {
      url: { type: 'string', default: null, nullable: true, pattern: /^(mqtts?|tcp|ssl|wss?):\/\/.+/, hint: 'must be an mqtt://, mqtts://, ws:// or wss:// URL' },
      /** Topic filters to subscribe to, at QoS 1; empty: `topic` with + for each placeholder. */
      topics: { type: 'strings', default: [] },
      /** The persistent session's name on the site's broker; null: `iotgw-<gateway_id>`. Keep it stable. */
      client_id: { type: 'string', default: null, nullable: true, pattern: /^[\x21-\x7e]{1,128}$/, hint: '1-128 printable ASCII characters, no spaces' },
      username: { type: 'string', default: null, nullable: true },
      password: { type: 'string', default: null, nullable: true, secret: true },
    },
  },
} as const satisfies Section;
