/**
 * Test files run side by side (vitest.config.ts), one per worker process: each worker uses a Temporal namespace of
 * its own (created by the global setup), so two files never share workflow ids, schedules or visibility counts.
 * Everything that reads TEMPORAL_NAMESPACE (test helpers, the worker processes tests spawn) follows.
 */
import { inject } from 'vitest';

const namespaces = inject('temporalNamespaces');
if (namespaces !== undefined && namespaces.length > 0) {
  const pool = Math.max(1, Number(process.env.VITEST_POOL_ID ?? '1'));
  process.env.TEMPORAL_NAMESPACE = namespaces[(pool - 1) % namespaces.length];
}
