/**
 * The Storage Write API (gRPC) behind one small interface: append rows to a table's default stream.
 * Production uses Application Default Credentials and the public endpoint; tests point it at the emulator's gRPC
 * port over an insecure channel. Requests are bounded by bytes (AppendRows accepts at most 10 MB per request).
 */
import { adapt, managedwriter, protos } from '@google-cloud/bigquery-storage';
import { OAuth2Client } from 'google-auth-library';
import { grpc, type ClientOptions } from 'google-gax';

/** A row as the JSON writer encodes it: DATE as days since 1970-01-01, TIMESTAMP as microseconds, NUMERIC as text. */
export type AppendRow = Record<string, string | number | boolean | null>;

export interface StorageWriteOptions {
  projectId: string;
  datasetId: string;
  /** host:port of a local emulator's gRPC endpoint (insecure channel); production leaves it out. */
  grpcEndpoint?: string;
  /** Bytes of encoded rows per AppendRows request (default 8 MB, under the API's 10 MB request limit). */
  maxRequestBytes?: number;
  /**
   * How long an append (opening the stream included) may wait for its answers (default 60 s). A connection can go
   * quiet without an error; after this the connection is dropped and the append fails, so the caller retries on a new
   * one (the default stream's duplicates are removed downstream) instead of waiting for ever.
   */
  answerTimeoutMs?: number;
}

/** Every append the sink makes: counted so the benchmark and the cost model can report requests, not guesses. */
export interface AppendStats {
  requests: number;
  rows: number;
  bytes: number;
}

export interface RowAppender {
  /** Appends rows to `table`'s default stream; resolves when every request is acknowledged. */
  append(table: string, rows: AppendRow[]): Promise<AppendStats>;
  close(): Promise<void>;
}

/** The API's request limit; the default split leaves room for the request envelope. */
export const APPEND_REQUEST_LIMIT_BYTES = 10 * 1024 * 1024;
export const DEFAULT_APPEND_REQUEST_BYTES = 8 * 1024 * 1024;

/** Approximate encoded size of a row (protobuf: field tag + length + payload), used to cut requests by bytes. */
export const encodedRowBytes = (row: AppendRow): number => {
  let bytes = 2;
  for (const value of Object.values(row)) {
    if (value === null) continue;
    bytes += 2 + (typeof value === 'string' ? Buffer.byteLength(value) + 2 : 10);
  }
  return bytes;
};

/** Splits rows into consecutive groups whose estimated encoded size stays under `maxBytes`. */
export const splitByBytes = (rows: AppendRow[], maxBytes: number): AppendRow[][] => {
  const groups: AppendRow[][] = [];
  let current: AppendRow[] = [];
  let size = 0;
  for (const row of rows) {
    const bytes = encodedRowBytes(row);
    if (bytes > maxBytes) throw new Error(`one row of ${bytes} bytes exceeds the ${maxBytes}-byte append request limit`);
    if (size + bytes > maxBytes && current.length > 0) {
      groups.push(current);
      current = [];
      size = 0;
    }
    current.push(row);
    size += bytes;
  }
  if (current.length > 0) groups.push(current);
  return groups;
};

const emulatorAuth = (): OAuth2Client => {
  const client = new OAuth2Client();
  client.setCredentials({ access_token: 'emulator' });
  return client;
};

interface OpenWriter {
  writer: managedwriter.JSONWriter;
  connection: { close(): void };
}

export class StorageWriteAppender implements RowAppender {
  private readonly client: managedwriter.WriterClient;
  private readonly writers = new Map<string, Promise<OpenWriter>>();
  private readonly maxRequestBytes: number;

  constructor(private readonly options: StorageWriteOptions) {
    this.maxRequestBytes = Math.min(options.maxRequestBytes ?? DEFAULT_APPEND_REQUEST_BYTES, APPEND_REQUEST_LIMIT_BYTES);
    if (options.grpcEndpoint !== undefined) {
      const [host, port] = options.grpcEndpoint.split(':');
      if (!host || !port || !/^\d+$/.test(port)) throw new Error(`invalid Storage Write gRPC endpoint ${JSON.stringify(options.grpcEndpoint)}`);
      this.client = new managedwriter.WriterClient({
        projectId: options.projectId,
        servicePath: host,
        apiEndpoint: host,
        port: Number(port),
        sslCreds: grpc.credentials.createInsecure(),
        // An emulator needs no credentials; a fixed token keeps the client from looking for real ones.
        // google-gax pins its own copy of google-auth-library; the client only calls getRequestHeaders on it.
        authClient: emulatorAuth() as unknown as NonNullable<ClientOptions['authClient']>,
        // The client pings every 30 s; the emulator's gRPC server allows one ping per 5 minutes and then ends the
        // connection ("Bandwidth exhausted or memory limit exceeded"). BigQuery itself accepts the client's pings.
        'grpc.keepalive_time_ms': 300_000,
      });
    } else {
      this.client = new managedwriter.WriterClient({ projectId: options.projectId });
    }
  }

  private tablePath(table: string): string {
    return `projects/${this.options.projectId}/datasets/${this.options.datasetId}/tables/${table}`;
  }

  private writerFor(table: string): Promise<OpenWriter> {
    let open = this.writers.get(table);
    if (!open) {
      open = (async () => {
        const destinationTable = this.tablePath(table);
        const streamId = `${destinationTable}/streams/_default`;
        const connection = await this.client.createStreamConnection({ streamId, destinationTable });
        // A broken connection fails its pending appends (the caller retries, duplicates are removed downstream) and
        // is dropped, so the next append opens a new one. Without a listener the error would end the process.
        connection.on('error', () => {
          if (this.writers.get(table) === open) this.writers.delete(table);
          connection.close();
        });
        const stream = await this.client.getWriteStream({ streamId, view: protos.google.cloud.bigquery.storage.v1.WriteStreamView.FULL });
        if (!stream.tableSchema) throw new Error(`no table schema for ${destinationTable}`);
        const protoDescriptor = adapt.convertStorageSchemaToProto2Descriptor(stream.tableSchema, 'root');
        return { writer: new managedwriter.JSONWriter({ connection, protoDescriptor }), connection };
      })();
      // A failed open is not cached: the next append tries again.
      open.catch(() => this.writers.delete(table));
      this.writers.set(table, open);
    }
    return open;
  }

  async append(table: string, rows: AppendRow[]): Promise<AppendStats> {
    if (rows.length === 0) return { requests: 0, rows: 0, bytes: 0 };
    const timeoutMs = this.options.answerTimeoutMs ?? 60_000;
    let timer: NodeJS.Timeout | undefined;
    const silence = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const open = this.writers.get(table);
        this.writers.delete(table);
        void open?.then((o) => o.connection.close(), () => undefined);
        reject(new Error(`append to ${table}: no answer from the Storage Write API within ${timeoutMs} ms; the connection was dropped`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.appendOnce(table, rows), silence]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async appendOnce(table: string, rows: AppendRow[]): Promise<AppendStats> {
    const stats: AppendStats = { requests: 0, rows: 0, bytes: 0 };
    const { writer } = await this.writerFor(table);
    const pending = splitByBytes(rows, this.maxRequestBytes).map((group) => {
      stats.requests += 1;
      stats.rows += group.length;
      stats.bytes += group.reduce((sum, r) => sum + encodedRowBytes(r), 0);
      return writer.appendRows(group).getResult();
    });
    const results = await Promise.all(pending);
    for (const result of results) {
      const errors = result.rowErrors ?? [];
      if (result.error || errors.length > 0) {
        throw new Error(`append to ${table} failed: ${result.error?.message ?? JSON.stringify(errors.slice(0, 3))}`);
      }
    }
    return stats;
  }

  async close(): Promise<void> {
    const open = await Promise.allSettled(this.writers.values());
    for (const o of open) if (o.status === 'fulfilled') o.value.connection.close();
    this.writers.clear();
    this.client.close();
  }
}
