/** The file registry: every file received, its outcome and validation errors (parameterised single statements). */
import { WarehouseError, type FileRecord, type FileRegistryEntry, type Warehouse } from '../port.js';
import { toFileEntry } from '../core/mappers.js';
import { ISO_TS, p } from './sql.js';
import type { BigQueryConnection } from './connection.js';

export class FileRegistry {
  constructor(private readonly c: BigQueryConnection) {}

  async registerFile(record: FileRecord): Promise<FileRegistryEntry> {
    return this.c.retrying(`register file ${record.fileId}`, async () => {
      const existing = await this.getFile(record.fileId, record.sha256);
      if (existing) return existing;
      // One parameterised statement, atomic by itself: a file's manifest and path are text no script may carry.
      await this.c.query(
          `INSERT INTO ${this.c.t('file_registry')} (file_id, sha256, client_id, kind, covers, sequence, row_count, data_path,
                  workflow_id, run_id, replay, outcome, reason, errors, change_id, received_at, updated_at)
                SELECT @fileId, @sha, @client, @kind, @covers, @sequence, @rows, @path, @wf, @run, @replay, 'received', NULL, '[]', NULL,
                       CURRENT_TIMESTAMP(), CURRENT_TIMESTAMP()
                FROM UNNEST([1])
                WHERE NOT EXISTS (SELECT 1 FROM ${this.c.t('file_registry')} WHERE file_id = @fileId AND sha256 = @sha)`,
          {
            fileId: p.str(record.fileId),
            sha: p.str(record.sha256),
            client: p.str(record.clientId),
            kind: p.str(record.kind),
            covers: p.str(JSON.stringify(record.covers)),
            sequence: p.int(record.sequence),
            rows: p.int(record.rowCount),
            path: p.str(record.dataPath),
            wf: p.str(record.workflowId),
            run: p.str(record.runId),
            replay: p.bool(record.replay),
          },
      );
      const created = await this.getFile(record.fileId, record.sha256);
      if (!created) throw new WarehouseError(`file ${record.fileId} was not registered`, 'INVARIANT');
      return created;
    });
  }

  async getFile(fileId: string, sha256: string): Promise<FileRegistryEntry | null> {
    const [r] = await this.c.query(
      `SELECT *, ${ISO_TS('received_at')} AS received, ${ISO_TS('updated_at')} AS updated
       FROM ${this.c.t('file_registry')} WHERE file_id = @fileId AND sha256 = @sha LIMIT 1`,
      { fileId: p.str(fileId), sha: p.str(sha256) },
    );
    return r ? toFileEntry(r) : null;
  }

  async setFileOutcome(input: Parameters<Warehouse['setFileOutcome']>[0]): Promise<void> {
    // One parameterised statement: a rejection's reason and errors are free text no script may carry.
    await this.c.retrying(`file outcome ${input.fileId}`, () =>
      this.c.query(
          `UPDATE ${this.c.t('file_registry')} SET outcome = @outcome, reason = @reason, errors = COALESCE(@errors, errors),
                  change_id = COALESCE(@change, change_id), updated_at = CURRENT_TIMESTAMP()
                WHERE file_id = @fileId AND sha256 = @sha`,
          {
            outcome: p.str(input.outcome),
            reason: p.str(input.reason),
            errors: p.str(input.errors === undefined ? null : JSON.stringify(input.errors)),
            change: p.str(input.changeId ?? null),
            fileId: p.str(input.fileId),
            sha: p.str(input.sha256),
          },
      ),
    );
  }
}
