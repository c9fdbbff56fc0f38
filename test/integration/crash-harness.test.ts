/**
 * A bounded run of the crash harness (scripts/crash-harness.ts runs many more trials): the worker process is
 * SIGKILLed right after a committed stream batch while the Temporal dev server restarts, right after a
 * committed partition replacement, and inside a saga compensation; each time the warehouse ends exactly as
 * in the fault-free reference run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCrashHarness } from '../../scripts/crash-harness.js';
import { startTemporal, type TemporalServer } from '../support/servers.js';

describe('crash harness (bounded)', () => {
  // Its own dev server: one trial restarts it, which must not disturb other tests' server.
  let server: TemporalServer;
  beforeAll(async () => {
    server = await startTemporal();
  }, 120_000);
  afterAll(async () => {
    await server.stop();
  });

  it('survives SIGKILL at a step boundary, after a committed write, in a compensation, and a server restart', async () => {
    const report = await runCrashHarness({
      trials: 3,
      seed: 1,
      server: { address: server.address, port: Number(server.address.split(':').at(-1)), dataDir: server.dataDir },
      restartServerInTrials: [1],
      plans: [
        { kind: 'point', point: 'wh.writeStreamBatch.after', n: 3 },
        { kind: 'point', point: 'wh.replacePartitions.after', n: 2 },
        { kind: 'point', point: 'unpublish', n: 1 },
      ],
      log: (line) => console.log(line),
    });
    console.log(`trials ${report.trials}, faults injected ${report.faultsInjected}, survived ${report.faultsSurvived}`);
    for (const r of report.results) expect(r.differences, `trial ${r.trial}`).toEqual([]);
    expect(report.results.map((r) => r.kills)).toEqual([1, 1, 1]);
    // Each planned fault landed: the kills happened and the restart brought up another server process.
    expect(report.results.map((r) => r.landed)).toEqual([true, true, true]);
    expect(report.results.map((r) => r.serverRestarted)).toEqual([true, false, false]);
    expect(report.faultsMissed).toBe(0);
    expect(report.serverRestarts).toBe(1);
    expect(report.faultsInjected).toBe(4);
    expect(report.faultsSurvived).toBe(4);
  }, 900_000);
});
