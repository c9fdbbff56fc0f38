/**
 * The worker process with a crash hook, for the crash harness: the same `startWorker` as src/workers/main.ts,
 * plus a fault injector read from the environment.
 *
 *   CRASH_AT=<point>:<n>   SIGKILL this process the n-th time it reaches <point>, where a point is an activity
 *                          step (register, validate, stage, replace, publish, revert, unpublish, dropStaging,
 *                          record, stream.read, stream.write, stream.ack) or `wh.<method>.after`: right after a
 *                          warehouse write committed, before the activity reports it.
 *   STEP_COUNTS_PATH=file  where to keep how often each point was reached (the reference run's counts).
 *   FAIL_STEP=<step>       a file workflow whose id contains "/doomed" fails non-retryably at this step, so its
 *                          compensations run (publish by default).
 */
import { writeFileSync } from 'node:fs';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { FaultInjector } from '../../src/activities/file-activities.js';
import { loadConfig } from '../../src/config.js';
import { DuckDbWarehouse } from '../../src/warehouse/duckdb/duckdb-warehouse.js';
import { WRITE_METHODS } from '../../testkit/faulty-warehouse.js';
import { startWorker } from '../../src/workers/main.js';

const [crashPoint, crashNth] = (process.env.CRASH_AT ?? '').split(':');
const countsPath = process.env.STEP_COUNTS_PATH;
const failStep = process.env.FAIL_STEP ?? 'publish';
const counts: Record<string, number> = {};

const reach = (point: string): void => {
  counts[point] = (counts[point] ?? 0) + 1;
  if (countsPath) writeFileSync(countsPath, JSON.stringify(counts));
  if (point === crashPoint && counts[point] === Number(crashNth)) {
    console.log(`crash-worker: SIGKILL at ${point} #${counts[point]}`);
    process.kill(process.pid, 'SIGKILL');
  }
};

// Test-only instrumentation of this child process: a point right after each warehouse write has committed.
for (const method of WRITE_METHODS) {
  const proto = DuckDbWarehouse.prototype as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  const original = proto[method];
  if (!original) continue;
  proto[method] = async function (this: unknown, ...args: unknown[]) {
    const result = await original.apply(this, args);
    reach(`wh.${method}.after`);
    return result;
  };
}

const faults: FaultInjector = {
  async before(step) {
    reach(step);
    if (step === failStep && (Context.current().info.workflowExecution?.workflowId.includes('/doomed') ?? false)) {
      throw ApplicationFailure.nonRetryable(`injected failure at ${step}`, 'InjectedFault');
    }
  },
};

const config = loadConfig();
const running = await startWorker(config, { faults });
console.log(`worker on task queue ${config.TASK_QUEUE} at ${config.TEMPORAL_ADDRESS} (crash point ${process.env.CRASH_AT ?? 'none'})`);
await running.done;
