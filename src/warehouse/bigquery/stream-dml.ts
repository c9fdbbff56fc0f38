/**
 * The DML stream path (no `streamSink` configured): each micro-batch is staged by parameterised single statements into
 * `stream_incoming`, then classified and written by one transaction script behind the write fence.
 */
import { WarehouseError, type StreamBatch, type StreamBatchResult } from '../port.js';
import { toBatchResult } from '../core/mappers.js';
import { TRANSACTION_COLUMN_NAMES } from './schema.js';
import { crossDates, outcomeCase } from './stream-sql.js';
import { EVENT_STRUCT, GUARD_MARKER, REJECT_STRUCT, dateValue, p, timestampValue, type Params, type Statement } from './sql.js';
import type { BigQueryConnection } from './connection.js';

export class DmlStreamPath {
  constructor(private readonly c: BigQueryConnection) {}

  async write(batch: StreamBatch): Promise<StreamBatchResult> {
    return this.c.retrying(`stream batch ${batch.batchId}`, async () => {
      const stored = await this.storedBatch(batch.batchId);
      if (stored) return { ...stored, alreadyApplied: true };

      const params: Params = {
        batch: p.str(batch.batchId),
        source: p.str(batch.sourceId),
        from: p.int(batch.fromCursor),
        to: p.int(batch.toCursor),
        rejected: p.int(batch.rejects.length),
        unknown: p.int(batch.unknownFields),
        // The dates an id of this batch is looked for in: its events' dates and those within CROSS_DATE_DAYS.
        near: p.dates(batch.events.length > 0 ? crossDates([...new Set(batch.events.map((e) => e.eventDate))]) : ['1970-01-01']),
      };
      await this.stageStreamBatch(batch);
      const classified = this.classifiedEvents();
      const eventColumns = 'transaction_id, account_id, event_ts, event_date, amount, currency, merchant_id, description';
      const sideTable = (table: string, outcome: string): Statement => ({
        sql: `INSERT INTO ${this.c.t(table)} (${eventColumns}, source_id, batch_id, stream_offset, received_at)
              ${classified}
              SELECT ${eventColumns}, @source, @batch, c.stream_offset, CURRENT_TIMESTAMP() FROM classified c
              WHERE c.outcome = '${outcome}'`,
        params,
      });
      await this.c.transaction([
        {
          sql: `SELECT IF(EXISTS (SELECT 1 FROM ${this.c.t('stream_batches')} WHERE batch_id = @batch),
                          ERROR('${GUARD_MARKER}: batch written concurrently'), 0)`,
          params,
        },
        {
          sql: `INSERT INTO ${this.c.t('transactions')} (${TRANSACTION_COLUMN_NAMES})
                ${classified}
                SELECT ${eventColumns}, 'provisional', 0, 'stream', @batch, CAST(NULL AS STRING), CURRENT_TIMESTAMP() FROM classified c
                WHERE c.outcome = 'insert'`,
          params,
        },
        sideTable('late_arrivals', 'late'),
        sideTable('stream_conflicts', 'conflict'),
        {
          sql: `INSERT INTO ${this.c.t('stream_rejects')} (source_id, batch_id, stream_offset, reason, raw, received_at)
                SELECT @source, @batch, r.stream_offset, r.reason, r.raw, CURRENT_TIMESTAMP() FROM ${this.c.t('stream_incoming')} r
                WHERE r.batch_id = @batch AND r.is_reject`,
          params,
        },
        {
          sql: `INSERT INTO ${this.c.t('stream_batches')}
                  (batch_id, source_id, from_cursor, to_cursor, inserted, duplicates, conflicts, late, rejected, unknown_fields, written_at)
                ${classified}
                SELECT @batch, @source, @from, @to, COUNTIF(outcome = 'insert'), COUNTIF(outcome = 'duplicate'),
                       COUNTIF(outcome = 'conflict'), COUNTIF(outcome = 'late'), @rejected, @unknown, CURRENT_TIMESTAMP()
                FROM classified`,
          params,
        },
        { sql: `DELETE FROM ${this.c.t('stream_incoming')} WHERE batch_id = @batch`, params },
      ]);
      const written = await this.storedBatch(batch.batchId);
      if (!written) throw new WarehouseError(`batch ${batch.batchId} was not recorded`, 'INVARIANT');
      return { ...written, alreadyApplied: false };
    });
  }

  /**
   * Stages a batch's events and rejects with parameterised single statements (a script cannot carry parameters
   * on every engine the adapter runs on, nor 10 MB of events as literals); the batch's script reads them by batch id
   * and deletes them. A retried batch finds its rows staged already and stages nothing twice.
   */
  private async stageStreamBatch(batch: StreamBatch): Promise<void> {
    const staged = `NOT EXISTS (SELECT 1 FROM ${this.c.t('stream_incoming')} WHERE batch_id = @batch AND is_reject = @reject)`;
    const columns = `batch_id, is_reject, ord, stream_offset, transaction_id, account_id, event_ts, event_date, amount, currency,
                     merchant_id, description, reason, raw`;
    // Empty arrays of structs are not sent: nothing to stage, and not every engine can type them.
    if (batch.events.length > 0) {
      await this.c.query(
        `INSERT INTO ${this.c.t('stream_incoming')} (${columns})
         SELECT @batch, @reject, e.ord, e.stream_offset, e.transaction_id, e.account_id, e.event_ts, e.event_date, e.amount, e.currency,
                e.merchant_id, e.description, NULL, NULL
         FROM UNNEST(@events) AS e WHERE ${staged}`,
        {
          batch: p.str(batch.batchId),
          reject: p.bool(false),
          events: p.structs(
            batch.events.map((e, i) => ({
              ord: i,
              stream_offset: e.offset,
              transaction_id: e.transactionId,
              account_id: e.accountId,
              event_ts: timestampValue(e.eventTs),
              event_date: dateValue(e.eventDate),
              amount: e.amount,
              currency: e.currency,
              merchant_id: e.merchantId,
              description: e.description,
            })),
            EVENT_STRUCT,
          ),
        },
      );
    }
    if (batch.rejects.length > 0) {
      await this.c.query(
        `INSERT INTO ${this.c.t('stream_incoming')} (${columns})
         SELECT @batch, @reject, NULL, r.stream_offset, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, r.reason, r.raw
         FROM UNNEST(@rejects) AS r WHERE ${staged}`,
        {
          batch: p.str(batch.batchId),
          reject: p.bool(true),
          rejects: p.structs(batch.rejects.map((r) => ({ stream_offset: r.offset, reason: r.reason, raw: r.raw })), REJECT_STRUCT),
        },
      );
    }
  }

  /**
   * Sorts each event of the staged batch into insert / duplicate / conflict / late, as the DuckDB adapter does. Stored
   * rows and kept-aside late arrivals are looked up in the batch's event dates and the dates within CROSS_DATE_DAYS of
   * them (`@near`), as the Storage Write sink's classification does: the cost stays the same as the table ages, and an
   * id re-sent with a date that far from its first version's is a conflict.
   * Rows this same batch wrote are left out of the comparison, so every statement of the batch sees the same
   * classification whatever ran before it.
   */
  private classifiedEvents(): string {
    return `WITH inc AS (
        SELECT e.ord, e.stream_offset, e.transaction_id, e.account_id, e.event_ts, e.event_date, e.amount, e.currency,
               e.merchant_id, e.description
        FROM ${this.c.t('stream_incoming')} AS e WHERE e.batch_id = @batch AND NOT e.is_reject),
      firsts AS (SELECT transaction_id, MIN(ord) AS first_ord FROM inc GROUP BY transaction_id),
      stored AS (SELECT * FROM ${this.c.t('transactions')}
                 WHERE event_date IN UNNEST(@near) AND transaction_id IN (SELECT transaction_id FROM inc)
                   AND NOT (source_kind = 'stream' AND source_id = @batch)),
      late AS (SELECT * FROM ${this.c.t('late_arrivals')}
               WHERE event_date IN UNNEST(@near) AND transaction_id IN (SELECT transaction_id FROM inc) AND batch_id <> @batch),
      sealed AS (SELECT event_date FROM ${this.c.t('partition_ledger')} WHERE sealed),
      classified AS (
        SELECT i.*,
          ${outcomeCase({ event: 'i', isRepeat: 'i.ord <> f.first_ord', sealed: 's' })} AS outcome
        FROM inc i
        JOIN firsts f ON f.transaction_id = i.transaction_id
        JOIN inc fi ON fi.ord = f.first_ord
        LEFT JOIN sealed s ON s.event_date = i.event_date
        LEFT JOIN late la ON la.transaction_id = i.transaction_id
        LEFT JOIN stored st ON st.transaction_id = i.transaction_id
        WHERE TRUE
        QUALIFY ROW_NUMBER() OVER (PARTITION BY i.ord) = 1)`;
  }

  private async storedBatch(batchId: string): Promise<Omit<StreamBatchResult, 'alreadyApplied'> | null> {
    const [r] = await this.c.query(`SELECT * FROM ${this.c.t('stream_batches')} WHERE batch_id = @id LIMIT 1`, { id: p.str(batchId) });
    return r ? toBatchResult(r) : null;
  }
}
