/**
 * Configuration, parsed once at start by one schema. A bad value stops the process with a message
 * naming the variable. Every setting has a local default, so a fresh clone runs with none set.
 */
import { resolve } from 'node:path';
import { z } from 'zod';

const port = z.coerce.number().int().min(1).max(65535);
const positiveInt = z.coerce.number().int().positive();
const bool = z
  .enum(['true', 'false', '1', '0', ''])
  .transform((v) => v === 'true' || v === '1');
const timeOfDay = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM (24-hour)');
const memorySize = z.string().regex(/^\d+(\.\d+)?\s*(KB|MB|GB|KiB|MiB|GiB)$/i, 'must be a size such as 128MB or 1GB');
const identifier = z.string().regex(/^[A-Za-z0-9_]{1,1024}$/, 'must be letters, digits and underscores');

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
    WORK_DIR: z.string().default('.data/work'),

    STREAM_BATCH_MAX_ROWS: positiveInt.default(10_000),
    STREAM_BATCH_MAX_WAIT_MS: positiveInt.default(250),
    FEED_RATE: z.coerce.number().positive().default(200),
    FEED_SEED: z.coerce.number().int().nonnegative().default(42),

    SCHEDULE_TIME: timeOfDay.default('00:05'),
    RECONCILIATION_DEADLINE: timeOfDay.default('06:00'),
    ALERT_WEBHOOK_URL: z.string().url().optional(),
    METRICS_PORT: port.default(9464),
    /** The Temporal SDK's own Prometheus endpoint; METRICS_PORT + 1 when unset, off when 0. */
    SDK_METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
    PAYLOAD_KEY: z
      .string()
      .regex(/^[A-Za-z0-9+/]{43}=$/, 'must be a base64 AES-256 key (32 bytes)')
      .optional(),
    /** A workflow bundle built ahead of time (npm run build:workflows); unset: compiled at worker start. */
    WORKFLOW_BUNDLE: z.string().optional(),
    LOG_LEVEL: z.enum(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR']).default('INFO'),
    CI: bool.optional(),
  })
  .superRefine((c, ctx) => {
    if (c.WAREHOUSE === 'bigquery' && !c.BIGQUERY_PROJECT) {
      ctx.addIssue({ code: 'custom', path: ['BIGQUERY_PROJECT'], message: 'is required when WAREHOUSE=bigquery' });
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
  return { ...c, SDK_METRICS_PORT: c.SDK_METRICS_PORT ?? c.METRICS_PORT + 1, DUCKDB_PATH: resolve(c.DUCKDB_PATH), LANDING_DIR: resolve(c.LANDING_DIR), WORK_DIR: resolve(c.WORK_DIR) };
};
