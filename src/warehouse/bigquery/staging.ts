/** Staging a validated file for its partition replacement: a load job into `staging_<id>`. */
import { WarehouseError } from '../port.js';
import { num } from '../core/mappers.js';
import { STAGING_FIELDS } from './schema.js';
import { STAGING_ID } from './sql.js';
import type { BigQueryConnection } from './connection.js';

export const stagingTable = (stagingId: string): string => {
  if (!STAGING_ID.test(stagingId)) throw new WarehouseError(`invalid staging id ${JSON.stringify(stagingId)}`, 'INVARIANT');
  return `staging_${stagingId}`;
};

export class Staging {
  constructor(private readonly c: BigQueryConnection) {}

  async stageFile(input: { stagingId: string; csvPath: string }): Promise<{ rows: number }> {
    const name = stagingTable(input.stagingId);
    // A load job (not DML, not streaming): counts toward the 1,500 table operations per day of the staging table only.
    await this.c.dataset.table(name).load(input.csvPath, {
      sourceFormat: 'CSV',
      skipLeadingRows: 1,
      writeDisposition: 'WRITE_TRUNCATE',
      createDisposition: 'CREATE_IF_NEEDED',
      allowQuotedNewlines: true,
      encoding: 'UTF-8',
      schema: { fields: STAGING_FIELDS.map((c) => ({ name: c.name, type: c.type, mode: c.mode })) },
    });
    const [r] = await this.c.query(`SELECT COUNT(*) AS n FROM ${this.c.t(name)}`);
    return { rows: num(r?.n) };
  }

  async dropStaging(stagingId: string): Promise<void> {
    await this.c.dataset.table(stagingTable(stagingId)).delete({ ignoreNotFound: true });
  }
}
