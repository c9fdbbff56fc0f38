/**
 * A recording stand-in for the BigQuery client, for unit tests of what the adapter sends: every job request is kept
 * (query, labels, timeout, id), rows come from `answer`, and a test can make a job id exist already (409), keep a
 * job running until it is cancelled, report a previous job as running for a few polls, or look around as a job is created.
 */
import type { BigQuery } from '@google-cloud/bigquery';

export interface RecordedJob {
  request: {
    query?: string;
    jobId?: string;
    location?: string;
    labels?: Record<string, string>;
    jobTimeoutMs?: number;
    configuration?: { labels?: Record<string, string>; jobTimeoutMs?: string; load?: Record<string, unknown> };
  };
  cancelled: boolean;
}

export class RecordedBigQuery {
  readonly jobs: RecordedJob[] = [];
  /** Every call in order: `create <id>`, `attach <id>`, `poll <id> <state>`, `cancel <id>`, `create table`/`delete table <dataset>.<table>`. */
  readonly calls: string[] = [];
  /** Rows a query answers. */
  answer: (sql: string) => Array<Record<string, unknown>> = () => [];
  /** Ids that exist already: creating one answers 409; its results are `existingRows`. */
  readonly existing = new Set<string>();
  existingRows: Array<Record<string, unknown>> = [];
  /** Ids reported as RUNNING for this many polls, then DONE. */
  readonly runningPolls = new Map<string, number>();
  /** When true, a query's results wait until the job is cancelled (then fail as BigQuery reports a cancelled job). */
  hold = false;
  /** Runs as a job is created, before it is recorded (a test looks at the world the job would see then). */
  beforeCreate: ((request: RecordedJob['request']) => Promise<void>) | undefined;

  asClient(): BigQuery {
    // The adapter uses only the calls below; a cast keeps the fake small.
    return this as unknown as BigQuery;
  }

  async createQueryJob(request: RecordedJob['request']): Promise<[FakeJob]> {
    if (request.jobId !== undefined && this.existing.has(request.jobId)) {
      this.calls.push(`create ${request.jobId} 409`);
      throw Object.assign(new Error(`Already Exists: Job ${request.jobId}`), { code: 409 });
    }
    await this.beforeCreate?.(request);
    const recorded: RecordedJob = { request, cancelled: false };
    this.jobs.push(recorded);
    this.calls.push(`create ${request.jobId ?? '(random)'}`);
    return [new FakeJob(this, request.jobId ?? `random-${this.jobs.length}`, recorded)];
  }

  async createJob(request: RecordedJob['request']): Promise<[FakeJob]> {
    return this.createQueryJob(request);
  }

  job(id: string): FakeJob {
    return new FakeJob(this, id, undefined);
  }

  /** Datasets and tables answer only what the adapter's constructor and staging ask. */
  dataset(id: string): object {
    return {
      id,
      projectId: 'proj',
      createTable: async (name: string) => {
        this.calls.push(`create table ${id}.${name}`);
        return [{}];
      },
      table: (name: string) => ({
        id: name,
        delete: async () => {
          this.calls.push(`delete table ${id}.${name}`);
          return [{}];
        },
      }),
    };
  }
}

export class FakeJob {
  constructor(
    private readonly bq: RecordedBigQuery,
    readonly id: string,
    private readonly recorded: RecordedJob | undefined,
  ) {}

  async getQueryResults(): Promise<[Array<Record<string, unknown>>]> {
    if (!this.recorded) {
      this.bq.calls.push(`attach ${this.id}`);
      return [this.bq.existingRows];
    }
    if (this.bq.hold) {
      while (!this.recorded.cancelled) await new Promise((resolve) => setTimeout(resolve, 5));
      throw Object.assign(new Error(`Job ${this.id} was cancelled`), { code: 400, errors: [{ reason: 'stopped' }] });
    }
    return [this.bq.answer(this.recorded.request.query ?? '')];
  }

  async promise(): Promise<void> {
    await this.getQueryResults();
  }

  async getMetadata(): Promise<[{ status: { state: string } }]> {
    const left = this.bq.runningPolls.get(this.id);
    if (left === undefined) throw Object.assign(new Error(`Not found: Job ${this.id}`), { code: 404 });
    const state = left > 0 ? 'RUNNING' : 'DONE';
    this.bq.runningPolls.set(this.id, left - 1);
    this.bq.calls.push(`poll ${this.id} ${state}`);
    return [{ status: { state } }];
  }

  async cancel(): Promise<[object]> {
    this.bq.calls.push(`cancel ${this.id}`);
    if (this.recorded) this.recorded.cancelled = true;
    return [{}];
  }
}
