/**
 * Registers the product's custom search attributes on a namespace through the operator service, on any cluster
 * (the dev server gets them from scripts/temporal.sh at start). Idempotent: it lists what exists, adds only what is
 * missing, and stops on a name registered with another type (a workflow upserting it would fail).
 */
import type { ConnectionLike } from '@temporalio/client';
import type { SearchAttributeType } from '@temporalio/common';
import { searchAttributes } from '../domain/workflow-api.js';

/** temporal.api.enums.v1.IndexedValueType: the wire numbers of the search attribute types. */
export const INDEXED_VALUE_TYPE: Record<SearchAttributeType, number> = {
  TEXT: 1,
  KEYWORD: 2,
  INT: 3,
  DOUBLE: 4,
  BOOL: 5,
  DATETIME: 6,
  KEYWORD_LIST: 7,
};
const GRPC_ALREADY_EXISTS = 6;
const TYPE_OF_NUMBER = new Map(Object.entries(INDEXED_VALUE_TYPE).map(([name, n]) => [n, name]));

export interface SearchAttributeOutcome {
  name: string;
  type: SearchAttributeType;
  status: 'created' | 'exists';
}

export class SearchAttributeConflict extends Error {
  override name = 'SearchAttributeConflict';
  constructor(
    readonly attribute: string,
    readonly wanted: string,
    readonly registered: string,
  ) {
    super(`search attribute ${attribute} is registered as ${registered}, the pipeline needs ${wanted}; rename or remove it first`);
  }
}

/** The product's search attributes, name → type (from src/domain/workflow-api.ts). */
export const productSearchAttributes = (): Array<{ name: string; type: SearchAttributeType }> =>
  Object.values(searchAttributes).map((key) => ({ name: key.name, type: key.type }));

export const ensureSearchAttributes = async (connection: Pick<ConnectionLike, 'operatorService'>, namespace: string): Promise<SearchAttributeOutcome[]> => {
  const listed = await connection.operatorService.listSearchAttributes({ namespace });
  const existing = listed.customAttributes ?? {};
  const wanted = productSearchAttributes();
  for (const { name, type } of wanted) {
    const have = existing[name];
    if (have !== undefined && have !== INDEXED_VALUE_TYPE[type]) throw new SearchAttributeConflict(name, type, TYPE_OF_NUMBER.get(have) ?? String(have));
  }
  const missing = wanted.filter(({ name }) => existing[name] === undefined);
  if (missing.length > 0) {
    await connection.operatorService
      .addSearchAttributes({
        namespace,
        searchAttributes: Object.fromEntries(missing.map(({ name, type }) => [name, INDEXED_VALUE_TYPE[type]])),
      })
      .catch(async (error: { code?: number }) => {
        // ALREADY_EXISTS: another run registered them meanwhile; fine if they are all there now, with the right types.
        if (error.code !== GRPC_ALREADY_EXISTS) throw error;
        const now = (await connection.operatorService.listSearchAttributes({ namespace })).customAttributes ?? {};
        for (const { name, type } of missing) {
          if (now[name] !== INDEXED_VALUE_TYPE[type]) throw new SearchAttributeConflict(name, type, TYPE_OF_NUMBER.get(now[name] ?? 0) ?? 'missing');
        }
      });
  }
  return wanted.map(({ name, type }) => ({ name, type, status: existing[name] === undefined ? 'created' : 'exists' }));
};
