/**
 * Where a validated file is put for the warehouse to read it itself: with a bucket landing and BigQuery, the
 * validator's typed Parquet goes to `<prefix>staging/<stagingId>.parquet` and the load job names that object
 * (src/files/gcs-staging.ts). Without one (a local landing, DuckDB) the warehouse stages the local file as before.
 * Every operation is idempotent, because the activities that call it are retried.
 */

/** A staged object as the warehouse will read it. */
export interface StagedObject {
  /** What the warehouse loads (`gs://bucket/object`). */
  uri: string;
  /** The object's generation and size once it was verified whole. */
  generation: string;
  bytes: number;
  /** False when the same bytes were there already (a retried stage step): nothing was sent. */
  uploaded: boolean;
}

export interface StagingArea {
  /** Human-readable location, for logs (`gs://bucket/prefix/staging/`). */
  readonly location: string;
  /** Puts the local file under the staging id unless the same bytes are there already; resolves once the object is whole. */
  put(input: { stagingId: string; path: string }): Promise<StagedObject>;
  /** Deletes the staging id's object; a missing one is fine. */
  remove(stagingId: string): Promise<void>;
  /** Deletes staged objects created before `now - olderThanMs`: the leftovers of runs that never cleaned up. */
  sweep(input: { olderThanMs: number; now?: number }): Promise<{ deleted: string[] }>;
}
