/** The file registry (every file received, with its outcome) and the staging of a file's normalised rows. */
import type { DuckDBConnection } from '@duckdb/node-api';
import { FILE_COLUMNS } from '../../domain/contract.js';
import { WarehouseError, type FileRecord, type FileRegistryEntry, type Warehouse } from '../port.js';
import { num, toFileEntry } from '../core/mappers.js';
import { stagingTable } from '../core/sql.js';
import { ISO_TS, rows, run, sqlLiteral, type DuckDbConnections } from './connection.js';

export const registerFile = (db: DuckDbConnections, record: FileRecord): Promise<FileRegistryEntry> =>
  db.exclusive(async () => {
    const existing = await fileEntry(db.writer, record.fileId, record.sha256);
    if (existing) return existing;
    await run(
      db.writer,
      `INSERT INTO file_registry VALUES ($fileId, $sha, $client, $kind, $covers, $sequence, $rows, $path, $wf, $run,
         $replay, 'received', NULL, '[]', NULL, now(), now())`,
      {
        fileId: record.fileId,
        sha: record.sha256,
        client: record.clientId,
        kind: record.kind,
        covers: JSON.stringify(record.covers),
        sequence: record.sequence,
        rows: record.rowCount,
        path: record.dataPath,
        wf: record.workflowId,
        run: record.runId,
        replay: record.replay,
      },
    );
    const created = await fileEntry(db.writer, record.fileId, record.sha256);
    if (!created) throw new WarehouseError(`file ${record.fileId} was not registered`, 'INVARIANT');
    return created;
  });

export const fileEntry = async (c: DuckDBConnection, fileId: string, sha256: string): Promise<FileRegistryEntry | null> => {
  const [r] = await rows(
    c,
    `SELECT *, strftime(received_at, ${ISO_TS}) AS received, strftime(updated_at, ${ISO_TS}) AS updated
     FROM file_registry WHERE file_id = $fileId AND sha256 = $sha`,
    { fileId, sha: sha256 },
  );
  return r ? toFileEntry(r) : null;
};

export const setFileOutcome = (db: DuckDbConnections, input: Parameters<Warehouse['setFileOutcome']>[0]): Promise<void> =>
  db.exclusive(() =>
    run(
      db.writer,
      `UPDATE file_registry SET outcome = $outcome, reason = $reason,
         errors = coalesce($errors, errors), change_id = coalesce($change, change_id), updated_at = now()
       WHERE file_id = $fileId AND sha256 = $sha`,
      {
        outcome: input.outcome,
        reason: input.reason,
        errors: input.errors === undefined ? null : JSON.stringify(input.errors),
        change: input.changeId ?? null,
        fileId: input.fileId,
        sha: input.sha256,
      },
    ),
  );

/**
 * Stages the validator's normalised file. Parquet (by its `.parquet` suffix) is staged as a view over the
 * file: it is already checked and typed, so copying it into a table would only write every row one more
 * time; the replacement reads it once, inside its transaction. CSV is copied into a table, read as VARCHAR
 * and cast in SQL: parsing text straight into DECIMAL(38, 9) is ~20x slower than into DECIMAL(18, 9), so
 * only amounts too wide for the latter take the slow path.
 */
export const stageFile = (db: DuckDbConnections, input: { stagingId: string; csvPath: string }): Promise<{ rows: number }> => {
  const table = stagingTable(input.stagingId);
  const parquet = input.csvPath.endsWith('.parquet');
  const select = (source: string, amount: string): string =>
    `SELECT transaction_id, account_id, CAST(event_ts AS TIMESTAMPTZ) AS event_ts, CAST(event_date AS DATE) AS event_date,
       ${amount} AS amount, currency, merchant_id, description FROM ${source}`;
  return db.exclusive(async () => {
    await dropStagingObject(db.writer, table);
    if (parquet) {
      // A view cannot take parameters: the path is a validated local file name, quoted as an SQL literal.
      await run(db.writer, `CREATE VIEW ${table} AS ${select(`read_parquet(${sqlLiteral(input.csvPath)})`, 'CAST(amount AS DECIMAL(38, 9))')}`);
    } else {
      const csv = `read_csv($path, header = true, auto_detect = false, quote = '"', escape = '"',
        columns = {${FILE_COLUMNS.map((c) => `'${c}': 'VARCHAR'`).join(', ')}})`;
      const amount = 'CAST(coalesce(try_cast(amount AS DECIMAL(18, 9)), CAST(amount AS DECIMAL(38, 9))) AS DECIMAL(38, 9))';
      await run(db.writer, `CREATE TABLE ${table} AS ${select(csv, amount)}`, { path: input.csvPath });
    }
    const [r] = await rows(db.writer, `SELECT count(*)::BIGINT AS n FROM ${table}`);
    return { rows: num(r?.n) };
  }, 'file');
};

export const dropStaging = (db: DuckDbConnections, stagingId: string): Promise<void> => {
  const table = stagingTable(stagingId);
  return db.exclusive(() => dropStagingObject(db.writer, table));
};

/** A staging area is a table (CSV) or a view (Parquet); DuckDB drops each by its own kind. */
const dropStagingObject = async (c: DuckDBConnection, name: string): Promise<void> => {
  const [r] = await rows(c, `SELECT (SELECT count(*) FROM duckdb_views() WHERE view_name = $name AND NOT temporary)::INTEGER AS views`, { name });
  await run(c, num(r?.views) > 0 ? `DROP VIEW IF EXISTS ${name}` : `DROP TABLE IF EXISTS ${name}`);
};
