/**
 * The Kafka supervisor's decisions (src/workflows/kafka-supervisor-decisions.ts), run outside the workflow sandbox:
 * which partitions get a stream and what each stream starts with. The supervisor itself is tested against a broker
 * (test/integration/kafka-scale-out.test.ts).
 */
import { describe, expect, it } from 'vitest';
import type { KafkaSupervisorInput } from '../../src/domain/workflow-api.js';
import {
  partitionSourceId,
  partitionStreamInput,
  partitionsToStart,
  supervisorDone,
} from '../../src/workflows/kafka-supervisor-decisions.js';

const input: KafkaSupervisorInput = { topic: 'tx', clientId: 'acme', maxRows: 500, maxWaitMs: 2000 };

describe('the partitions that get a stream', () => {
  it('are the discovered ones with no stream yet, each once, in the order discovered', () => {
    const discovered = [
      { partition: 2, startCursor: 0 },
      { partition: 0, startCursor: 5 },
      { partition: 1, startCursor: 7 },
      { partition: 2, startCursor: 9 },
    ];
    expect(partitionsToStart(discovered, new Set([0]))).toEqual([
      { partition: 2, startCursor: 0 },
      { partition: 1, startCursor: 7 },
    ]);
    expect(partitionsToStart(discovered, new Set([0, 1, 2]))).toEqual([]);
  });

  it('leave the running set as it was', () => {
    const running = new Set([0]);
    partitionsToStart([{ partition: 1, startCursor: 0 }], running);
    expect([...running]).toEqual([0]);
  });
});

describe("a partition's stream", () => {
  it('reads kafka:<topic>:<partition> from the offset discovery gave it, with the batch settings', () => {
    expect(partitionSourceId('tx', 3)).toBe('kafka:tx:3');
    expect(partitionStreamInput(input, 3, 42)).toEqual({ sourceId: 'kafka:tx:3', clientId: 'acme', cursor: 42, maxRows: 500, maxWaitMs: 2000 });
  });

  it('carries the test limits and the activity kind only when they are set', () => {
    const limited = { ...input, streamStopAt: 100, streamMaxBatchesPerRun: 5, streamActivityKind: 'regular' as const };
    expect(partitionStreamInput(limited, 0, 0)).toEqual({
      sourceId: 'kafka:tx:0',
      clientId: 'acme',
      cursor: 0,
      maxRows: 500,
      maxWaitMs: 2000,
      stopAt: 100,
      maxBatchesPerRun: 5,
      activityKind: 'regular',
    });
    expect(Object.keys(partitionStreamInput({ ...input, streamStopAt: 0 }, 0, 0))).toContain('stopAt');
  });
});

describe('a bounded supervisor', () => {
  it('ends once stopAfterPartitions partitions have streams; unbounded never ends', () => {
    expect(supervisorDone({ stopAfterPartitions: 3 }, 2)).toBe(false);
    expect(supervisorDone({ stopAfterPartitions: 3 }, 3)).toBe(true);
    expect(supervisorDone({ stopAfterPartitions: 3 }, 4)).toBe(true);
    expect(supervisorDone({}, 1000)).toBe(false);
  });
});
