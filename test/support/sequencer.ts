/**
 * The order test files start in (vitest.config.ts, `sequence.sequencer`). Vitest starts the longest files first only
 * when its cache has their durations, which a fresh clone (CI) does not: without this, a long file may start last and
 * the run waits for it with one worker idle.
 *
 * LONG_FILES, first to start: the files that took 15 s or more in a full run, ordered so that, with two files at a
 * time and those durations, the four that keep the shared BigQuery emulator busy (file workflows, the contract on the
 * emulator, the contract through the Storage Write sink, Kafka scale-out with its BigQuery workers) run one after
 * another while the other worker runs long files that do not use it (crash harnesses, Ctrl-C, races, Kafka faults):
 * two of them at once slow each other down on the one emulator.
 * Every other file follows in vitest's own order (cached durations, longest first, when there are any).
 */
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

export const LONG_FILES: readonly string[] = [
  'test/integration/file-workflow.test.ts',
  'test/integration/crash-harness.test.ts',
  'test/integration/stream-crash.test.ts',
  'test/integration/warehouse-bigquery.test.ts',
  'test/integration/up-ctrl-c.test.ts',
  'test/integration/races.test.ts',
  'test/integration/bigquery-stream-sink.test.ts',
  'test/integration/kafka-faults.test.ts',
  'test/integration/kafka-scale-out.test.ts',
  'test/integration/cli.test.ts',
  'test/integration/bad-files.test.ts',
  'test/integration/stream-workflow.test.ts',
  'test/integration/daily-schedule.test.ts',
  'test/integration/operator-cli.test.ts',
  'test/integration/bigquery-dialect.test.ts',
  'test/integration/restore-workflow.test.ts',
  'test/integration/saga.test.ts',
  'test/integration/demo.test.ts',
  'test/integration/transient-errors.test.ts',
  'test/integration/kafka-stream.test.ts',
  'test/unit/bundle.test.ts',
  'test/integration/gcs-bigquery-load.test.ts',
  'test/integration/monitoring.test.ts',
  'test/integration/kafka-source.test.ts',
  'test/integration/gcs-pipeline.test.ts',
];

export default class LongFilesFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (spec: TestSpecification): number => {
      const at = LONG_FILES.indexOf(relative(spec.project.config.root, spec.moduleId).replaceAll('\\', '/'));
      return at === -1 ? LONG_FILES.length : at;
    };
    // Array.prototype.sort is stable: files off the list keep vitest's order among themselves.
    return sorted.sort((a, b) => rank(a) - rank(b));
  }
}
