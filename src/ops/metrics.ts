/**
 * The pipeline's own Prometheus metrics (the SDK's metrics are served beside them by the Temporal runtime).
 * One registry per process; the HTTP endpoint serves it at /metrics.
 */
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { FileAlerts } from '../activities/file-activities.js';
import type { StreamMetrics } from '../activities/stream-activities.js';

export class PipelineMetrics implements StreamMetrics, FileAlerts {
  /** Per client, how to count its late dates (src/ops/late-files.ts); read at each scrape. */
  private readonly lateFileCounts = new Map<string, () => Promise<number>>();
  readonly registry = new Registry();
  readonly rowsWritten = new Counter({ name: 'pipeline_stream_rows_written_total', help: 'Provisional rows written by the stream', labelNames: ['source'], registers: [this.registry] });
  readonly lateArrivals = new Counter({ name: 'pipeline_stream_late_arrivals_total', help: 'Stream events for sealed dates, kept aside', labelNames: ['source'], registers: [this.registry] });
  readonly rejected = new Counter({ name: 'pipeline_stream_rejected_total', help: 'Stream events that failed the contract (quarantined)', labelNames: ['source'], registers: [this.registry] });
  readonly conflicts = new Counter({ name: 'pipeline_stream_conflicts_total', help: 'Stream events with a known id and different content', labelNames: ['source'], registers: [this.registry] });
  readonly freshness = new Histogram({
    name: 'pipeline_stream_freshness_seconds',
    help: 'Time from an event being emitted by the source to its batch being durable in the warehouse',
    labelNames: ['source'],
    buckets: [0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30],
    registers: [this.registry],
  });
  readonly lag = new Gauge({ name: 'pipeline_stream_lag_events', help: 'Events available at the source and not yet written', labelNames: ['source'], registers: [this.registry] });
  readonly parked = new Gauge({ name: 'pipeline_stream_parked', help: '1 while the stream of a source is parked on a non-retryable error', labelNames: ['source'], registers: [this.registry] });
  readonly sourceErrors = new Counter({ name: 'pipeline_stream_source_errors_total', help: 'Failed reads from the stream source (broker down or unreachable); retried', labelNames: ['source'], registers: [this.registry] });
  readonly lastRead = new Gauge({
    name: 'pipeline_stream_source_last_read_timestamp_seconds',
    help: 'When the source last answered a read; time() minus this is how long the stream has been stalled',
    labelNames: ['source'],
    registers: [this.registry],
  });
  readonly fileOutcomes = new Counter({ name: 'pipeline_files_outcomes_total', help: 'File outcomes recorded in the registry (applied, duplicate, rejected, refused_stale, rolled_back, needs_operator)', labelNames: ['outcome'], registers: [this.registry] });
  /**
   * Counted through Temporal visibility when scraped, so every worker reports the same, durable number (alert on
   * `max by (client)`, never a sum). A count that fails keeps the previous value: a raised alert stays raised.
   */
  readonly filesLate: Gauge<'client'> = new Gauge({
    name: 'pipeline_files_late',
    help: 'Business dates whose reconciliation file is past its deadline (daily runs with LateFile = true), from Temporal visibility',
    labelNames: ['client'],
    registers: [this.registry],
    collect: async () => {
      await Promise.all(
        [...this.lateFileCounts].map(async ([client, count]) => {
          try {
            this.filesLate.set({ client }, await count());
          } catch {
            this.lateFileCountFailures.inc({ client });
          }
        }),
      );
    },
  });
  readonly lateFileCountFailures = new Counter({
    name: 'pipeline_files_late_count_failures_total',
    help: 'Scrapes at which the late-file count could not be read from Temporal (pipeline_files_late kept its previous value)',
    labelNames: ['client'],
    registers: [this.registry],
  });

  batchWritten(input: Parameters<StreamMetrics['batchWritten']>[0]): void {
    const source = input.sourceId;
    this.rowsWritten.inc({ source }, input.inserted);
    this.lateArrivals.inc({ source }, input.late);
    this.rejected.inc({ source }, input.rejected);
    this.conflicts.inc({ source }, input.conflicts);
    this.lag.set({ source }, input.lag);
    for (const emitted of input.emittedAtMs) this.freshness.observe({ source }, Math.max(0, input.durableAtMs - emitted) / 1000);
  }

  readonly filesNeedingOperator = new Counter({ name: 'pipeline_files_needs_operator_total', help: 'Files whose rollback failed and waits for an operator', registers: [this.registry] });

  fileOutcome(outcome: string): void {
    this.fileOutcomes.inc({ outcome });
  }

  fileNeedsOperator(): void {
    this.filesNeedingOperator.inc();
  }

  streamParked(sourceId: string, reason: string | null): void {
    this.parked.set({ source: sourceId }, reason === null ? 0 : 1);
  }

  sourceRead(input: { sourceId: string; ok: boolean; atMs: number }): void {
    if (input.ok) this.lastRead.set({ source: input.sourceId }, input.atMs / 1000);
    else this.sourceErrors.inc({ source: input.sourceId });
  }

  /** Read-only JSON endpoints served beside /metrics (src/ops/read-api.ts): path → handler. */
  readonly routes = new Map<string, (query: URLSearchParams) => Promise<unknown>>();

  /** Reports `pipeline_files_late{client}` from `count` (a visibility count) at every scrape. */
  countLateFilesWith(clientId: string, count: () => Promise<number>): void {
    this.lateFileCounts.set(clientId, count);
  }

  /** Serves /metrics and the read API on loopback (or the given host: METRICS_ADDRESS). */
  serve(port: number, host = '127.0.0.1'): Promise<Server> {
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const route = this.routes.get(url.pathname);
      if (route !== undefined) {
        route(url.searchParams).then(
          (body) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body)),
          (error: unknown) => res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: String(error) })),
        );
        return;
      }
      if (req.url !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        (error: unknown) => res.writeHead(500).end(String(error)),
      );
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve(server));
    });
  }
}
