/**
 * A `Warehouse` decorator that fails a chosen share of calls, for reliability tests and the crash harness.
 *
 * Faults are seeded and deterministic: whether the n-th call of a method fails is a pure function of
 * (seed, method, n). A fault is either retryable (a plain "transient" error, or a concurrent-update
 * conflict in the DuckDB or BigQuery form) or permanent (`WarehouseError('INVARIANT')`), and strikes
 * either before the call reaches the warehouse or after it returned — the worst case, where the write
 * happened but the caller sees an error and retries it.
 */
import { seededRandom } from '../src/files/generate.js';
import { WarehouseError, type Warehouse } from '../src/warehouse/port.js';

/** Methods the activities write through; reads, migrate and close are never failed. */
export const WRITE_METHODS = [
  'writeStreamBatch',
  'registerFile',
  'setFileOutcome',
  'stageFile',
  'dropStaging',
  'replacePartitions',
  'revertChange',
  'publishChange',
  'unpublishChange',
] as const;
export type WriteMethod = (typeof WRITE_METHODS)[number];

export type FaultKind = 'transient' | 'conflict' | 'bigquery-conflict' | 'invariant';
export type FaultTiming = 'before' | 'after';

export interface InjectedFault {
  method: WriteMethod;
  /** 1-based call number of that method. */
  call: number;
  kind: FaultKind;
  timing: FaultTiming;
}

export interface FaultPlan {
  seed: number;
  /** Share of calls (0..1) that fail with a retryable error. */
  rate: number;
  /** Methods that may fail (all write methods by default). */
  methods?: readonly WriteMethod[];
  /** Retryable kinds drawn uniformly (all three by default). */
  kinds?: ReadonlyArray<Exclude<FaultKind, 'invariant'>>;
  /** Share of faults that strike after the delegate returned (0.5 by default). */
  afterShare?: number;
  /** At most this many failures in a row per method, so retries always get through (2 by default). */
  maxConsecutive?: number;
  /** Permanent failures: the given call of a method fails with `WarehouseError('INVARIANT')` (before delegating). */
  permanent?: ReadonlyArray<{ method: WriteMethod; call?: number }>;
}

/** The error a BigQuery client raises when two DML statements touch the same partition. */
export class BigQueryConflictError extends Error {
  readonly code = 400;
  readonly errors: Array<{ reason: string; message: string }>;
  constructor(table: string) {
    const message = `Could not serialize access to table ${table} due to concurrent update`;
    super(message);
    this.name = 'BigQueryConflictError';
    this.errors = [{ reason: 'invalidQuery', message }];
  }
}

const hashKey = (seed: number, method: string, call: number): number => {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (const ch of `${method}#${call}`) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return h;
};

export class FaultyWarehouse implements Warehouse {
  readonly engine: Warehouse['engine'];
  /** Every fault injected so far, in order. */
  readonly injected: InjectedFault[] = [];
  private readonly calls = new Map<WriteMethod, number>();
  private readonly streak = new Map<WriteMethod, number>();
  private readonly methods: ReadonlySet<WriteMethod>;
  private enabled = true;

  constructor(
    private readonly inner: Warehouse,
    private readonly plan: FaultPlan,
  ) {
    this.engine = inner.engine;
    this.methods = new Set(plan.methods ?? WRITE_METHODS);
  }

  /** Stops (or resumes) injecting faults, e.g. while a test reads or seeds state. */
  setEnabled(enabled: boolean): void {
    this.enabled = enabled;
  }

  /** Decides the fate of the next call of `method`; null when it goes through. */
  private draw(method: WriteMethod): InjectedFault | null {
    const call = (this.calls.get(method) ?? 0) + 1;
    this.calls.set(method, call);
    if (!this.enabled) return null;
    if (this.plan.permanent?.some((p) => p.method === method && (p.call === undefined || p.call === call))) {
      return { method, call, kind: 'invariant', timing: 'before' };
    }
    if (!this.methods.has(method)) return null;
    const random = seededRandom(hashKey(this.plan.seed, method, call));
    const streak = this.streak.get(method) ?? 0;
    if (random() >= this.plan.rate || streak >= (this.plan.maxConsecutive ?? 2)) {
      this.streak.set(method, 0);
      return null;
    }
    this.streak.set(method, streak + 1);
    const kinds = this.plan.kinds ?? ['transient', 'conflict', 'bigquery-conflict'];
    const kind = kinds[Math.floor(random() * kinds.length)] ?? 'transient';
    const timing: FaultTiming = random() < (this.plan.afterShare ?? 0.5) ? 'after' : 'before';
    return { method, call, kind, timing };
  }

  private raise(fault: InjectedFault): never {
    this.injected.push(fault);
    const where = `${fault.method} call ${fault.call} (${fault.timing})`;
    switch (fault.kind) {
      case 'transient':
        throw new Error(`transient: injected fault in ${where}`);
      case 'conflict':
        throw new WarehouseError(`injected concurrent update in ${where}; retry later`, 'CONFLICT');
      case 'bigquery-conflict':
        throw new BigQueryConflictError('transactions');
      case 'invariant':
        throw new WarehouseError(`injected broken invariant in ${where}`, 'INVARIANT');
    }
  }

  private async call<T>(method: WriteMethod, work: () => Promise<T>): Promise<T> {
    const fault = this.draw(method);
    if (fault?.timing === 'before') this.raise(fault);
    const result = await work();
    if (fault?.timing === 'after') this.raise(fault);
    return result;
  }

  migrate: Warehouse['migrate'] = () => this.inner.migrate();
  writeStreamBatch: Warehouse['writeStreamBatch'] = (b) => this.call('writeStreamBatch', () => this.inner.writeStreamBatch(b));
  registerFile: Warehouse['registerFile'] = (r) => this.call('registerFile', () => this.inner.registerFile(r));
  getFile: Warehouse['getFile'] = (id, sha) => this.inner.getFile(id, sha);
  setFileOutcome: Warehouse['setFileOutcome'] = (i) => this.call('setFileOutcome', () => this.inner.setFileOutcome(i));
  stageFile: Warehouse['stageFile'] = (i) => this.call('stageFile', () => this.inner.stageFile(i));
  dropStaging: Warehouse['dropStaging'] = (id) => this.call('dropStaging', () => this.inner.dropStaging(id));
  replacePartitions: Warehouse['replacePartitions'] = (i) => this.call('replacePartitions', () => this.inner.replacePartitions(i));
  revertChange: Warehouse['revertChange'] = (id) => this.call('revertChange', () => this.inner.revertChange(id));
  publishChange: Warehouse['publishChange'] = (id) => this.call('publishChange', () => this.inner.publishChange(id));
  unpublishChange: Warehouse['unpublishChange'] = (id) => this.call('unpublishChange', () => this.inner.unpublishChange(id));
  restoreVersion: Warehouse['restoreVersion'] = (i) => this.inner.restoreVersion(i);
  getPartitions: Warehouse['getPartitions'] = (d) => this.inner.getPartitions(d);
  getChanges: Warehouse['getChanges'] = (d) => this.inner.getChanges(d);
  getReport: Warehouse['getReport'] = (d) => this.inner.getReport(d);
  dailyTotals: Warehouse['dailyTotals'] = (d) => this.inner.dailyTotals(d);
  readRows: Warehouse['readRows'] = (d) => this.inner.readRows(d);
  readVersion: Warehouse['readVersion'] = (d, v) => this.inner.readVersion(d, v);
  countSideTables: Warehouse['countSideTables'] = () => this.inner.countSideTables();
  checksums: Warehouse['checksums'] = () => this.inner.checksums();
  streamCursor: Warehouse['streamCursor'] = (s) => this.inner.streamCursor(s);
  close: Warehouse['close'] = () => this.inner.close();
}

/**
 * What a run leaves in the warehouse, without what legitimately differs between two runs of the same
 * input (timestamps, run ids, change ids, batch boundaries): every date's rows and ledger entry, every
 * archived version, the change log, the reports and the side-table counts. Two runs that processed
 * the same input exactly once each have equal end states.
 */
export interface EndState {
  dates: Record<
    string,
    {
      ledger: { status: string; version: number; sequence: number | null; fileId: string | null; rowCount: number; totals: unknown };
      rows: unknown[];
      archived: Record<number, unknown[]>;
      changes: unknown[];
      report: unknown;
    }
  >;
  side: { lateArrivals: number; conflicts: number; rejects: number };
}

export const endState = async (warehouse: Warehouse): Promise<EndState> => {
  const dates: EndState['dates'] = {};
  for (const p of await warehouse.getPartitions()) {
    const archived: Record<number, unknown[]> = {};
    for (let v = 0; v < p.version; v++) archived[v] = await warehouse.readVersion(p.eventDate, v);
    const report = await warehouse.getReport(p.eventDate);
    dates[p.eventDate] = {
      ledger: { status: p.status, version: p.version, sequence: p.sequence, fileId: p.fileId, rowCount: p.rowCount, totals: p.totals },
      rows: await warehouse.readRows(p.eventDate),
      archived,
      changes: (await warehouse.getChanges(p.eventDate)).map(
        ({ changeId: _c, workflowId: _w, runId: _r, changedAt: _t, ...change }) => change,
      ),
      report: report && { ...report, changeId: undefined },
    };
  }
  const { lateArrivals, conflicts, rejects } = await warehouse.countSideTables();
  return { dates, side: { lateArrivals, conflicts, rejects } };
};

/** Compensations of the file saga, as warehouse methods. */
export type CompensationMethod = 'dropStaging' | 'revertChange' | 'unpublishChange';

/**
 * A `Warehouse` whose `method` runs `hook` right after the real call returned: the call's work is durable
 * when the hook runs, so a hook that throws (or waits for a cancellation) fails a step whose work must be undone.
 */
export const withHookAfter = (inner: Warehouse, method: WriteMethod, hook: (result: unknown) => Promise<void>): Warehouse =>
  new Proxy(inner, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      const fn = value as (...args: unknown[]) => Promise<unknown>;
      if (prop !== method) return fn.bind(target);
      return async (...args: unknown[]) => {
        const result = await fn.apply(target, args);
        await hook(result);
        return result;
      };
    },
  });

/**
 * A `Warehouse` on which one compensation does nothing (and says it did its work): a test that still passes
 * on it never needed that compensation, so it proves nothing about it.
 */
export const withoutCompensation = (inner: Warehouse, method: CompensationMethod): Warehouse =>
  new Proxy(inner, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (prop === method) return () => Promise.resolve(method === 'revertChange' ? { reverted: true } : undefined);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });

/** Staging areas created through this warehouse and not dropped yet: a rolled-back file leaves none. */
export const trackStaging = (inner: Warehouse): { warehouse: Warehouse; open: Set<string> } => {
  const open = new Set<string>();
  const warehouse = new Proxy(inner, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      const fn = (value as (...args: unknown[]) => Promise<unknown>).bind(target);
      if (prop === 'stageFile') {
        return async (input: { stagingId: string; csvPath: string }) => {
          const result = await fn(input);
          open.add(input.stagingId);
          return result;
        };
      }
      if (prop === 'dropStaging') {
        return async (stagingId: string) => {
          await fn(stagingId);
          open.delete(stagingId);
        };
      }
      return fn;
    },
  });
  return { warehouse, open };
};
