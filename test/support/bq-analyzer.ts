/**
 * The GoogleSQL analyzer (tools/bq-analyze.py over ZetaSQL, installed by scripts/install-analyzer.sh): analyzes
 * BigQuery statement texts against the warehouse's table schemas, for the statements no local engine runs.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { FieldSpec, TableSpec } from '../../src/warehouse/core/model.js';
import { repoRoot } from './servers.js';

const python = join(repoRoot, '.tools/analyzer-venv/bin/python');
const compiled = join(repoRoot, '.tools/zetasql.cwasm');
const tool = join(repoRoot, 'tools/bq-analyze.py');

export const analyzerAvailable = (): boolean => existsSync(python) && existsSync(compiled);

export interface AnalyzedStatement {
  id: string;
  ok: boolean;
  /** Resolved statement kinds, one per statement of a script (ResolvedInsertStmt, ...). */
  resolved: string[];
  error: string | null;
}

export interface CatalogTable {
  name: string;
  columns: Array<[string, FieldSpec['type'] | string]>;
}

export const catalogTable = (spec: Pick<TableSpec, 'name' | 'fields'>): CatalogTable => ({
  name: spec.name,
  columns: spec.fields.map((f) => [f.name, f.type]),
});

/** `project.dataset.table` (quoted) → `table`: the analyzer's catalog holds the tables by name alone. */
export const unqualified = (sql: string): string => sql.replace(/`[a-z][a-z0-9.:-]*\.[A-Za-z0-9_]+\.([A-Za-z0-9_]+)`/g, '`$1`');

/**
 * Analyzes `statements` in order (a view one creates is known to the ones after it); `params` are their query
 * parameters' types in the BigQuery Node client's notation.
 */
export const analyze = (tables: CatalogTable[], statements: Array<{ id: string; sql: string; params?: Record<string, unknown> }>): Promise<AnalyzedStatement[]> =>
  new Promise((resolve, reject) => {
    const child = execFile(
      python,
      [tool],
      { env: { ...process.env, ZETASQL_CWASM: compiled }, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`bq-analyze failed: ${error.message}\n${stderr}`));
        else resolve(JSON.parse(stdout) as AnalyzedStatement[]);
      },
    );
    child.stdin?.end(JSON.stringify({ tables, statements }));
  });
