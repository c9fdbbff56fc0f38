/** Reads: partition states, change history, daily totals, rows of a date or version, consumer views, counts. */
import type { Transaction } from '../../domain/contract.js';
import { canonicalAmount } from '../../domain/decimal.js';
import type { ConsumerView, ConsumerViewRow, DailyTotal, PartitionChange, PartitionState, RowStatus } from '../port.js';
import { consumerView } from '../core/sql.js';
import { num, toConsumerViewRow } from '../core/mappers.js';
import { changeFields, withStreamOnlyDates } from '../core/report.js';
import { DATA_TABLES, TABLES, dailyTotalsQuery } from './schema.js';
import { ISO_TS, allDates, p, wideSum } from './sql.js';
import type { BigQueryConnection } from './connection.js';
import { toDateChange, toPartitionState, toTransaction, type Ledger } from './ledger.js';

const amount = (v: unknown): string => canonicalAmount(String(v));

/** Tables partitioned by `event_date`. */
const PARTITIONED = new Set(TABLES.filter((spec) => spec.partitionBy === 'event_date').map((spec) => spec.name));

export class Reads {
  constructor(
    private readonly c: BigQueryConnection,
    private readonly ledger: Ledger,
  ) {}

  async getPartitions(dates?: string[]): Promise<PartitionState[]> {
    const stored = dates
      ? await this.ledger.ledgerRows(dates)
      : (
          await this.c.query(
            `SELECT *, CAST(event_date AS STRING) AS d, ${ISO_TS('updated_at')} AS updated FROM ${this.c.t('partition_ledger')} ORDER BY event_date`,
          )
        ).map(toPartitionState);
    // Dates only the stream has written have no ledger row yet: they are provisional at version 0.
    const streamOnly = await this.c.query(
      `SELECT CAST(event_date AS STRING) AS d, currency, COUNT(*) AS n, CAST(${wideSum('amount')} AS STRING) AS total
       FROM ${this.c.t('transactions')}
       WHERE ${dates ? 'event_date IN UNNEST(@dates)' : allDates('event_date')}
         AND event_date NOT IN (SELECT event_date FROM ${this.c.t('partition_ledger')})
       GROUP BY event_date, currency ORDER BY d, currency`,
      { dates: p.dates(dates ?? []) },
    );
    return withStreamOnlyDates(stored, streamOnly);
  }

  async getChanges(eventDate: string): Promise<PartitionChange[]> {
    const rows = await this.c.query(
      `SELECT *, CAST(event_date AS STRING) AS d, ${ISO_TS('changed_at')} AS changed FROM ${this.c.t('partition_changes')}
       WHERE event_date = @date ORDER BY to_version`,
      { date: p.date(eventDate) },
    );
    return rows.map((r) => ({ ...toDateChange(r), ...changeFields(r) }));
  }


  /**
   * The `daily_totals` view's own query, run on the given dates: the emulator reads a view's BIGNUMERIC column with 5
   * fraction digits (docs/emulators.md), the query itself exactly; on BigQuery both are the same.
   */
  async dailyTotals(dates: string[]): Promise<DailyTotal[]> {
    const rows = await this.c.query(
      `SELECT CAST(event_date AS STRING) AS d, date_status, date_version, currency, row_count, CAST(total_amount AS STRING) AS total
       FROM (${dailyTotalsQuery((n) => this.c.t(n), wideSum, 'WHERE tx.event_date IN UNNEST(@dates)')}) ORDER BY d, currency`,
      { dates: p.dates(dates) },
    );
    return rows.map((r) => ({
      eventDate: String(r.d),
      status: r.date_status as RowStatus,
      version: num(r.date_version),
      currency: String(r.currency),
      rows: num(r.row_count),
      total: amount(r.total),
    }));
  }

  private transactionSelect(table: string): string {
    return `SELECT transaction_id, account_id, ${ISO_TS('event_ts')} AS ts, CAST(event_date AS STRING) AS d, CAST(amount AS STRING) AS amount,
                   currency, merchant_id, description, status, partition_version
            FROM ${this.c.t(table)}`;
  }

  async readRows(eventDate: string): Promise<Array<Transaction & { status: RowStatus; version: number }>> {
    const rows = await this.c.query(`${this.transactionSelect('transactions')} WHERE event_date = @date ORDER BY transaction_id`, {
      date: p.date(eventDate),
    });
    return rows.map((r) => ({ ...toTransaction(r), status: r.status as RowStatus, version: num(r.partition_version) }));
  }

  async readVersion(eventDate: string, version: number): Promise<Array<Transaction & { status: RowStatus }>> {
    const rows = await this.c.query(
      `${this.transactionSelect('transactions_history')}
       WHERE event_date = @date AND partition_version = @v
       QUALIFY ROW_NUMBER() OVER (PARTITION BY transaction_id ORDER BY archived_at) = 1 ORDER BY transaction_id`,
      { date: p.date(eventDate), v: p.int(version) },
    );
    return rows.map((r) => ({ ...toTransaction(r), status: r.status as RowStatus }));
  }

  async readConsumerView(view: ConsumerView, eventDate: string): Promise<ConsumerViewRow[]> {
    const rows = await this.c.query(
      `SELECT transaction_id, CAST(amount AS STRING) AS amount, status, partition_version FROM ${this.c.t(consumerView(view))}
       WHERE event_date = @date ORDER BY transaction_id`,
      { date: p.date(eventDate) },
    );
    return rows.map(toConsumerViewRow);
  }

  async countSideTables(): Promise<{ lateArrivals: number; conflicts: number; rejects: number; batches: number }> {
    const [r] = await this.c.query(
      `SELECT (SELECT COUNT(*) FROM ${this.c.t('late_arrivals')}) AS late, (SELECT COUNT(*) FROM ${this.c.t('stream_conflicts')}) AS conflicts,
              (SELECT COUNT(*) FROM ${this.c.t('stream_rejects')}) AS rejects, (SELECT COUNT(*) FROM ${this.c.t('stream_batches')}) AS batches`,
    );
    return { lateArrivals: num(r?.late), conflicts: num(r?.conflicts), rejects: num(r?.rejects), batches: num(r?.batches) };
  }

  async streamCursor(sourceId: string): Promise<number> {
    const [r] = await this.c.query(`SELECT COALESCE(MAX(to_cursor), 0) AS c FROM ${this.c.t('stream_batches')} WHERE source_id = @source`, { source: p.str(sourceId) });
    return num(r?.c);
  }

  async checksums(): Promise<Record<string, string>> {
    const rows = await this.c.query(
      DATA_TABLES.map(
        (table) =>
          `SELECT '${table}' AS name, COUNT(*) AS n, CAST(COALESCE(BIT_XOR(FARM_FINGERPRINT(TO_JSON_STRING(x))), 0) AS STRING) AS h
           FROM ${this.c.t(table)} x${PARTITIONED.has(table) ? ` WHERE ${allDates('x.event_date')}` : ''}`,
      ).join('\nUNION ALL\n'),
    );
    const out: Record<string, string> = {};
    for (const table of DATA_TABLES) {
      const r = rows.find((row) => row.name === table);
      out[table] = `${num(r?.n)}:${String(r?.h)}`;
    }
    return out;
  }
}
