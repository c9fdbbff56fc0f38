/**
 * Configuration, parsed once at start by one schema. A bad value stops the process with a message
 * naming the variable. Every setting has a local default, so a fresh clone runs with none set.
 */
import { resolve } from 'node:path';
import { z } from 'zod';
import { QUEUE_NAMES, type QueueName } from './domain/workflow-api.js';

const port = z.coerce.number().int().min(1).max(65535);
const positiveInt = z.coerce.number().int().positive();
const bool = z
  .enum(['true', 'false', '1', '0', ''])
  .transform((v) => v === 'true' || v === '1');
const timeOfDay = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM (24-hour)');
const memorySize = z.string().regex(/^\d+(\.\d+)?\s*(KB|MB|GB|KiB|MiB|GiB)$/i, 'must be a size such as 128MB or 1GB');
const identifier = z.string().regex(/^[A-Za-z0-9_]{1,1024}$/, 'must be letters, digits and underscores');
/** `host` or `host:port` (IPv6 in brackets: `[::1]:8089`). */
const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/;
const bindAddress = z.string().regex(HOST_PORT, 'must be a host or host:port, e.g. 0.0.0.0 or 127.0.0.1:9464');
const base64Key = /^[A-Za-z0-9+/]{43}=$/;
/** PAYLOAD_KEYS: comma-separated `id:base64key` (or a bare key, named by its digest). */
const keyList = z
  .string()
  .transform((value, ctx) => {
    const entries: Array<{ id?: string; key: string }> = [];
    for (const raw of value.split(',').map((e) => e.trim()).filter(Boolean)) {
      const at = raw.lastIndexOf(':');
      const id = at > 0 ? raw.slice(0, at) : undefined;
      const key = at > 0 ? raw.slice(at + 1) : raw;
      if (!base64Key.test(key) || (id !== undefined && !/^[A-Za-z0-9._-]{1,64}$/.test(id))) {
        ctx.addIssue({ code: 'custom', message: `entry ${entries.length + 1} must be id:key, the id letters, digits, . _ - and the key a base64 AES-256 key (32 bytes)` });
        return z.NEVER;
      }
      entries.push(id !== undefined ? { id, key } : { key });
    }
    return entries;
  });

/** WORKER_QUEUES: comma-separated queue names, or `all`. */
export const queueList = z
  .string()
  .transform((value, ctx) => {
    const names = value.split(',').map((n) => n.trim()).filter(Boolean);
    if (names.length === 1 && names[0] === 'all') return [...QUEUE_NAMES];
    const unknown = names.filter((n) => !(QUEUE_NAMES as readonly string[]).includes(n));
    if (names.length === 0 || unknown.length > 0) {
      ctx.addIssue({ code: 'custom', message: `must be all or a list of ${QUEUE_NAMES.join(', ')}${unknown.length > 0 ? ` (unknown: ${unknown.join(', ')})` : ''}` });
      return z.NEVER;
    }
    return [...new Set(names)] as QueueName[];
  });

const timeZone = z.string().refine((tz) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, 'must be an IANA time zone such as America/New_York');

export const configSchema = z
  .object({
    TEMPORAL_ADDRESS: z.string().default('127.0.0.1:7233'),
    TEMPORAL_NAMESPACE: z.string().default('default'),
    TEMPORAL_API_KEY: z.string().optional(),
    TEMPORAL_TLS_CERT: z.string().optional(),
    TEMPORAL_TLS_KEY: z.string().optional(),
    TASK_QUEUE: z.string().default('transactions'),
    /** The queues this worker serves (`worker --queues`): stream, files, ops, shared (`<TASK_QUEUE>` itself), or all. */
    WORKER_QUEUES: queueList.default(['stream', 'files', 'ops', 'shared']),
    /** Worker Versioning: the deployment and build this worker belongs to (both, or neither: unversioned). */
    WORKER_DEPLOYMENT_NAME: z.string().regex(/^[A-Za-z0-9._-]{1,200}$/, 'must be letters, digits, . _ -').optional(),
    WORKER_BUILD_ID: z.string().regex(/^[A-Za-z0-9._-]{1,200}$/, 'must be letters, digits, . _ -').optional(),
    /** Each queue's slots: activities (the files queue's bound how many files validate at once) and workflow tasks. */
    STREAM_ACTIVITY_SLOTS: positiveInt.default(20),
    STREAM_WORKFLOW_SLOTS: positiveInt.default(10),
    FILES_ACTIVITY_SLOTS: positiveInt.default(2),
    FILES_WORKFLOW_SLOTS: positiveInt.default(10),
    OPS_ACTIVITY_SLOTS: positiveInt.default(10),
    OPS_WORKFLOW_SLOTS: positiveInt.default(10),

    WAREHOUSE: z.enum(['duckdb', 'bigquery']).default('duckdb'),
    DUCKDB_PATH: z.string().default('.data/warehouse/warehouse.duckdb'),
    /** DuckDB memory_limit of the warehouse, of the warehouse during file work, and of file validation; all spill to disk beyond it. */
    DUCKDB_MEMORY_LIMIT: memorySize.optional(),
    DUCKDB_FILE_MEMORY_LIMIT: memorySize.optional(),
    VALIDATE_MEMORY_LIMIT: memorySize.optional(),
    BIGQUERY_PROJECT: z.string().regex(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/, 'must be a Google Cloud project id').optional(),
    BIGQUERY_DATASET: identifier.default('transactions'),
    BIGQUERY_LOCATION: z.string().default('US'),
    BIGQUERY_EMULATOR_ENDPOINT: z.string().url().optional(),
    /** Stream writes: Storage Write API + periodic classification (production), or one DML script per batch. */
    BIGQUERY_STREAM_SINK: z.enum(['storage-write', 'dml']).default('storage-write'),
    /** host:port of the emulator's Storage Write gRPC endpoint (scripts/emulator.sh: BQ_EMULATOR_GRPC_PORT). */
    BIGQUERY_STORAGE_GRPC_ENDPOINT: z.string().regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, 'must be host:port').optional(),
    /** Classification cadence of the stream sink; 0: this worker runs no classification loop. */
    BIGQUERY_MERGE_EVERY_MS: z.coerce.number().int().min(0).default(60_000),
    /** Task-queue activity rate limit with WAREHOUSE=bigquery (stream batches run as regular activities there). */
    BIGQUERY_STREAM_ACTIVITIES_PER_SECOND: z.coerce.number().positive().default(50),

    CLIENT_ID: z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/).default('acme'),
    CLIENT_TIME_ZONE: timeZone.default('America/New_York'),
    LANDING_DIR: z.string().default('.data/landing'),
    /** A bucket to take files from instead of LANDING_DIR (`gs://` landing, src/files/gcs-landing.ts). */
    LANDING_BUCKET: z.string().regex(/^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/, 'must be a bucket name').optional(),
    LANDING_PREFIX: z.string().regex(/^([^/].*\/)?$/, 'must be empty or a folder ending in /').default(''),
    /** A GCS-compatible server (scripts/gcs.sh); unset: Google Cloud Storage with default credentials. */
    GCS_ENDPOINT: z.string().url().optional(),
    /**
     * With LANDING_BUCKET and WAREHOUSE=bigquery: validated files are put in `<LANDING_PREFIX>staging/` and the load job
     * reads them there; false: sent from the worker by resumable upload (a bucket BigQuery cannot load from).
     */
    BIGQUERY_LOAD_FROM_BUCKET: bool.default(true),
    WORK_DIR: z.string().default('.data/work'),

    /** Where the stream reads: a Kafka topic (one stream per partition) or the in-process simulated feed. */
    SOURCE: z.enum(['kafka', 'sim']).default('kafka'),
    KAFKA_BROKERS: z
      .string()
      .regex(/^[^\s,]+:\d+(,[^\s,]+:\d+)*$/, 'must be host:port[,host:port…]')
      .default('127.0.0.1:9092'),
    KAFKA_TOPIC: z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, 'must be a Kafka topic name').default('transactions'),
    KAFKA_GROUP: z.string().min(1).default('transactions-pipeline'),
    /** Partitions the simulated client creates its topic with (`npm start`); an existing topic keeps its own. */
    KAFKA_PARTITIONS: positiveInt.default(2),
    STREAM_BATCH_MAX_ROWS: positiveInt.default(10_000),
    STREAM_BATCH_MAX_WAIT_MS: positiveInt.default(250),
    FEED_RATE: z.coerce.number().positive().default(200),
    FEED_SEED: z.coerce.number().int().nonnegative().default(42),

    SCHEDULE_TIME: timeOfDay.default('00:05'),
    RECONCILIATION_DEADLINE: timeOfDay.default('06:00'),
    ALERT_WEBHOOK_URL: z.string().url().optional(),
    /** Address /metrics, the read API and the SDK's metrics listen on; 0.0.0.0 in a container Prometheus scrapes. */
    METRICS_PORT: port.default(9464),
    /** Bind address of /metrics and the read API (and of the SDK's endpoint): a host, or host:port. */
    METRICS_ADDRESS: bindAddress.default('127.0.0.1'),
    /** The Temporal SDK's own Prometheus endpoint; METRICS_PORT + 1 when unset, off when 0. */
    SDK_METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
    PAYLOAD_KEY: z.string().regex(base64Key, 'must be a base64 AES-256 key (32 bytes)').optional(),
    /** Key rotation: more keys, each `id:key`; all decrypt, PAYLOAD_KEY_ID names the one that encrypts. */
    PAYLOAD_KEYS: keyList.optional(),
    PAYLOAD_KEY_ID: z.string().optional(),
    /** `npm run cli -- codec-server`: where it listens, the bearer token it requires, the UI origins it answers. */
    CODEC_SERVER_ADDRESS: bindAddress.default('127.0.0.1:8089'),
    CODEC_SERVER_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
    CODEC_SERVER_CORS_ORIGINS: z.string().optional(),
    /** How long a stopping worker lets running activities finish before it cancels them. */
    SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).default(30_000),
    /** A workflow bundle built ahead of time (npm run build:workflows); unset: compiled at worker start. */
    WORKFLOW_BUNDLE: z.string().optional(),
    LOG_LEVEL: z.enum(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR']).default('INFO'),
    CI: bool.optional(),
  })
  .superRefine((c, ctx) => {
    if ((c.WORKER_DEPLOYMENT_NAME === undefined) !== (c.WORKER_BUILD_ID === undefined)) {
      ctx.addIssue({ code: 'custom', path: [c.WORKER_BUILD_ID === undefined ? 'WORKER_BUILD_ID' : 'WORKER_DEPLOYMENT_NAME'], message: 'is required with WORKER_DEPLOYMENT_NAME and WORKER_BUILD_ID set together (Worker Versioning)' });
    }
    if (c.WAREHOUSE === 'bigquery' && !c.BIGQUERY_PROJECT) {
      ctx.addIssue({ code: 'custom', path: ['BIGQUERY_PROJECT'], message: 'is required when WAREHOUSE=bigquery' });
    }
    const keyIds = (c.PAYLOAD_KEYS ?? []).flatMap((k) => (k.id !== undefined ? [k.id] : []));
    if (new Set(keyIds).size !== keyIds.length) ctx.addIssue({ code: 'custom', path: ['PAYLOAD_KEYS'], message: 'has the same id twice' });
    if (c.PAYLOAD_KEY_ID !== undefined && !keyIds.includes(c.PAYLOAD_KEY_ID) && !/^k-[0-9a-f]{16}$/.test(c.PAYLOAD_KEY_ID)) {
      ctx.addIssue({ code: 'custom', path: ['PAYLOAD_KEY_ID'], message: 'must be an id listed in PAYLOAD_KEYS' });
    }
    if (c.PAYLOAD_KEY_ID === undefined && c.PAYLOAD_KEY === undefined && (c.PAYLOAD_KEYS?.length ?? 0) > 1) {
      ctx.addIssue({ code: 'custom', path: ['PAYLOAD_KEY_ID'], message: 'is required with several PAYLOAD_KEYS: it names the key that encrypts' });
    }
    if (c.WAREHOUSE === 'bigquery' && c.BIGQUERY_STREAM_SINK === 'storage-write' && c.BIGQUERY_EMULATOR_ENDPOINT && !c.BIGQUERY_STORAGE_GRPC_ENDPOINT) {
      ctx.addIssue({
        code: 'custom',
        path: ['BIGQUERY_STORAGE_GRPC_ENDPOINT'],
        message: 'is required with BIGQUERY_EMULATOR_ENDPOINT when BIGQUERY_STREAM_SINK=storage-write (or set BIGQUERY_STREAM_SINK=dml)',
      });
    }
  });

export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses the environment; throws a ConfigError naming every bad variable. */
export const loadConfig = (env: NodeJS.ProcessEnv = process.env): Config => {
  const picked = Object.fromEntries(
    Object.keys(configSchema.shape)
      .filter((k) => env[k] !== undefined && env[k] !== '')
      .map((k) => [k, env[k]]),
  );
  const parsed = configSchema.safeParse(picked);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(config)'}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const c = parsed.data;
  // METRICS_ADDRESS may carry the port (host:port); the config then holds the host alone and the port in METRICS_PORT.
  const metrics = hostPort(c.METRICS_ADDRESS);
  if (metrics.port !== undefined && picked.METRICS_PORT !== undefined && metrics.port !== c.METRICS_PORT) {
    throw new ConfigError(`invalid configuration:\n  METRICS_ADDRESS: names port ${metrics.port} but METRICS_PORT is ${c.METRICS_PORT}`);
  }
  const codec = hostPort(c.CODEC_SERVER_ADDRESS);
  for (const [name, p] of [['METRICS_ADDRESS', metrics.port], ['CODEC_SERVER_ADDRESS', codec.port ?? 8089]] as const) {
    if (p !== undefined && (p < 1 || p > 65535)) throw new ConfigError(`invalid configuration:\n  ${name}: port ${p} is out of range`);
  }
  const metricsPort = metrics.port ?? c.METRICS_PORT;
  return {
    ...c,
    METRICS_ADDRESS: metrics.host,
    METRICS_PORT: metricsPort,
    SDK_METRICS_PORT: c.SDK_METRICS_PORT ?? metricsPort + 1,
    DUCKDB_PATH: resolve(c.DUCKDB_PATH),
    LANDING_DIR: resolve(c.LANDING_DIR),
    WORK_DIR: resolve(c.WORK_DIR),
  };
};

/** Splits `host[:port]`; the host comes without IPv6 brackets, as `listen()` wants it. */
export const hostPort = (address: string): { host: string; port: number | undefined } => {
  const match = HOST_PORT.exec(address);
  if (match === null) throw new ConfigError(`not a host or host:port: ${address}`);
  const host = (match[1] ?? address).replace(/^\[(.*)\]$/, '$1');
  return { host, port: match[2] !== undefined ? Number(match[2]) : undefined };
};

/** A URL to reach a server bound to `host:port` from this machine: a wildcard bind is reached on loopback. */
export const localUrl = (host: string, port: number): string => {
  const reach = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${reach.includes(':') ? `[${reach}]` : reach}:${port}`;
};
