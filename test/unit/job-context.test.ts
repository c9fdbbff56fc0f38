import { describe, expect, it } from 'vitest';
import { jobIdOf, labelValue, nextJob, withJobContext } from '../../src/warehouse/job-context.js';

describe('warehouse job context', () => {
  it('numbers the jobs of one activity attempt from 1, so a retry of the same attempt sends the same job ids', async () => {
    const ids = (attempt: number) =>
      withJobContext({ workflowId: 'reconcile/acme/2026-11-21/ab12cd34', step: 'replace', attempt }, async () => {
        const first = nextJob();
        const second = nextJob();
        return [first && jobIdOf(first), second && jobIdOf(second)];
      });
    expect(await ids(2)).toEqual(['reconcile_acme_2026-11-21_ab12cd34-replace-2-1', 'reconcile_acme_2026-11-21_ab12cd34-replace-2-2']);
    expect(await ids(2)).toEqual(await ids(2));
    expect(await ids(3)).not.toEqual(await ids(2));
    expect(nextJob()).toBeUndefined();
  });

  it('turns any text into a valid BigQuery label value (lower case, [a-z0-9_-], at most 63 characters)', () => {
    expect(labelValue('Reconcile/ACME:2026')).toBe('reconcile_acme_2026');
    expect(labelValue('x'.repeat(80))).toHaveLength(63);
  });
});
