/**
 * Stream micro-batches: appended to the writer's temp table as text, classified against what is stored (insert,
 * duplicate, conflict, late) and written where each belongs, with the batch's record, in one transaction.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import type { StreamBatch, StreamBatchResult } from '../port.js';
import { num, toBatchResult } from '../core/mappers.js';
import { sameContent } from '../core/sql.js';
import { rows, run, type DuckDbConnections } from './connection.js';

/**
 * Text → DECIMAL(38, 9). DuckDB parses text into a 128-bit decimal about 100× slower than into a 64-bit one,
 * which made this cast most of a stream batch's cost; amounts with at most 9 integer digits (nearly all) take
 * the 64-bit path and widen exactly. Text is already contract-checked (`AMOUNT_PATTERN`).
 */
const AMOUNT_FROM_TEXT = (column: string): string =>
  `CASE WHEN length(ltrim(split_part(${column}, '.', 1), '-')) <= 9 THEN CAST(CAST(${column} AS DECIMAL(18, 9)) AS DECIMAL(38, 9))
   ELSE CAST(${column} AS DECIMAL(38, 9)) END`;

export const writeStreamBatch = (db: DuckDbConnections, batch: StreamBatch): Promise<StreamBatchResult> =>
  db.exclusive(async () => {
    const c = db.writer;
    const [stored] = await rows(c, `SELECT * FROM stream_batches WHERE batch_id = $id`, { id: batch.batchId });
    if (stored) return { ...toBatchResult(stored), alreadyApplied: true };
    await appendIncoming(c, batch);
    return db.inTransaction(async () => {
      const counts = await classifyAndWrite(c, batch);
      const result: StreamBatchResult = { ...counts, rejected: batch.rejects.length, alreadyApplied: false, toCursor: batch.toCursor };
      for (const r of batch.rejects) {
        await run(c, `INSERT INTO stream_rejects VALUES ($source, $batch, $offset, $reason, $raw, now())`, {
          source: batch.sourceId, batch: batch.batchId, offset: r.offset, reason: r.reason, raw: r.raw,
        });
      }
      await run(
        c,
        `INSERT INTO stream_batches VALUES ($id, $source, $from, $to, $inserted, $duplicates, $conflicts, $late, $rejected, $unknown, now())`,
        {
          id: batch.batchId,
          source: batch.sourceId,
          from: batch.fromCursor,
          to: batch.toCursor,
          inserted: result.inserted,
          duplicates: result.duplicates,
          conflicts: result.conflicts,
          late: result.late,
          rejected: result.rejected,
          unknown: batch.unknownFields,
        },
      );
      return result;
    });
  });

/** The batch's events into `stream_incoming`, replacing the previous batch's, through an appender (no SQL text). */
const appendIncoming = async (c: DuckDBConnection, batch: StreamBatch): Promise<void> => {
  await run(c, 'DELETE FROM stream_incoming');
  const appender = await c.createAppender('stream_incoming', 'main', 'temp');
  batch.events.forEach((e, i) => {
    appender.appendInteger(i);
    appender.appendBigInt(BigInt(e.offset));
    appender.appendVarchar(e.transactionId);
    appender.appendVarchar(e.accountId);
    appender.appendVarchar(e.eventTs);
    appender.appendVarchar(e.eventDate);
    appender.appendVarchar(e.amount);
    appender.appendVarchar(e.currency);
    if (e.merchantId === null) appender.appendNull();
    else appender.appendVarchar(e.merchantId);
    if (e.description === null) appender.appendNull();
    else appender.appendVarchar(e.description);
    appender.endRow();
  });
  appender.flushSync();
  appender.closeSync();
};

/** Sorts each incoming event into insert / duplicate / conflict / late and writes it where it belongs. */
const classifyAndWrite = async (
  c: DuckDBConnection,
  batch: StreamBatch,
): Promise<Pick<StreamBatchResult, 'inserted' | 'duplicates' | 'conflicts' | 'late'>> => {
  await run(c, `CREATE OR REPLACE TEMP TABLE stream_classified AS
    WITH inc AS (
      SELECT ord, stream_offset, transaction_id, account_id, CAST(event_ts AS TIMESTAMPTZ) AS event_ts,
             CAST(event_date AS DATE) AS event_date, ${AMOUNT_FROM_TEXT('amount')} AS amount, currency, merchant_id, description
      FROM stream_incoming),
    firsts AS (SELECT transaction_id, min(ord) AS first_ord FROM inc GROUP BY transaction_id)
    SELECT i.*,
      CASE
        -- A repeat within the batch is judged against the accepted version: the stored row (or kept-aside late
        -- event) if there is one, else the batch's first occurrence; never against an earlier conflict.
        WHEN i.ord <> f.first_ord THEN
          CASE WHEN t.transaction_id IS NOT NULL THEN CASE WHEN ${sameContent('i', 't')} THEN 'duplicate' ELSE 'conflict' END
               WHEN la.transaction_id IS NOT NULL THEN CASE WHEN ${sameContent('i', 'la')} THEN 'duplicate' ELSE 'conflict' END
               WHEN ${sameContent('i', 'fi')} THEN 'duplicate' ELSE 'conflict' END
        WHEN l.event_date IS NOT NULL THEN
          CASE WHEN la.transaction_id IS NULL THEN 'late' WHEN ${sameContent('i', 'la')} THEN 'duplicate' ELSE 'conflict' END
        WHEN t.transaction_id IS NOT NULL THEN CASE WHEN ${sameContent('i', 't')} THEN 'duplicate' ELSE 'conflict' END
        ELSE 'insert'
      END AS outcome
    FROM inc i
    JOIN firsts f USING (transaction_id)
    JOIN inc fi ON fi.transaction_id = f.transaction_id AND fi.ord = f.first_ord
    LEFT JOIN partition_ledger l ON l.event_date = i.event_date AND l.sealed
    LEFT JOIN late_arrivals la ON la.transaction_id = i.transaction_id
    LEFT JOIN (SELECT * FROM transactions WHERE transaction_id IN (SELECT transaction_id FROM stream_incoming)) t
      ON t.transaction_id = i.transaction_id
    QUALIFY row_number() OVER (PARTITION BY i.ord) = 1`);
  const params = { source: batch.sourceId, batch: batch.batchId };
  const eventColumns = `transaction_id, account_id, event_ts, event_date, amount, currency, merchant_id, description,
    $source, $batch, stream_offset, now()`;
  await run(
    c,
    `INSERT INTO transactions SELECT transaction_id, account_id, event_ts, event_date, amount, currency, merchant_id,
       description, 'provisional', 0, 'stream', $batch, NULL, now()
     FROM stream_classified WHERE outcome = 'insert' ORDER BY ord`,
    { batch: batch.batchId },
  );
  await run(c, `INSERT INTO late_arrivals SELECT ${eventColumns} FROM stream_classified WHERE outcome = 'late' ORDER BY ord`, params);
  await run(c, `INSERT INTO stream_conflicts SELECT ${eventColumns} FROM stream_classified WHERE outcome = 'conflict' ORDER BY ord`, params);
  const counts = await rows(c, `SELECT outcome, count(*)::INTEGER AS n FROM stream_classified GROUP BY outcome`);
  const by = Object.fromEntries(counts.map((r) => [String(r.outcome), num(r.n)]));
  return { inserted: by.insert ?? 0, duplicates: by.duplicate ?? 0, conflicts: by.conflict ?? 0, late: by.late ?? 0 };
};
