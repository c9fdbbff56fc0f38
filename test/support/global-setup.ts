// Starts the servers integration tests share: one Temporal dev server and, when
// scripts/emulator.sh exists, one BigQuery emulator. Tests read them with
// inject('temporalAddress') / inject('bqEmulatorEndpoint') or from process.env
// (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, BQ_EMULATOR_ENDPOINT).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { emulatorAvailable, startEmulator, startTemporal } from './servers.js';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    temporalNamespace: string;
    /** One namespace per test worker (test/support/worker-namespace.ts picks this worker's). */
    temporalNamespaces: string[];
    bqEmulatorEndpoint?: string;
  }
}

const exportedVariables = ['TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'BQ_EMULATOR_ENDPOINT', 'BQ_EMULATOR_GRPC_PORT', 'WORKFLOW_BUNDLE_CACHE'] as const;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const saved = Object.fromEntries(exportedVariables.map((name) => [name, process.env[name]]));
  // One workflow bundle per run, compiled by the first worker that needs it and loaded by all later ones (test
  // files and the worker processes they spawn): compiling costs seconds of CPU each time.
  const bundleCache = mkdtempSync(join(tmpdir(), 'test-workflow-bundles-'));
  process.env.WORKFLOW_BUNDLE_CACHE = bundleCache;
  const skipEmulator = process.env.SKIP_BQ_EMULATOR === '1' || !emulatorAvailable();

  // TEST_TEMPORAL_ADDRESS attaches to a server started elsewhere instead of starting one.
  const external = process.env.TEST_TEMPORAL_ADDRESS;
  // Test files run side by side (vitest.config.ts): each worker gets a namespace of its own, so files running at the
  // same time never share workflow ids, schedules or visibility counts.
  const extraNamespaces = Array.from({ length: Math.max(1, project.globalConfig.maxWorkers) - 1 }, (_, i) => `default-${i + 2}`);
  const [temporalResult, emulatorResult] = await Promise.allSettled([
    external !== undefined && external !== ''
      ? Promise.resolve({ address: external, namespace: process.env.TEST_TEMPORAL_NAMESPACE ?? 'default', stop: async () => {} })
      : startTemporal({ extraNamespaces }),
    // In memory: a test run's data goes at the end anyway, and the emulator-bound files take about a fifth less time.
    skipEmulator ? Promise.resolve(undefined) : startEmulator({ inMemory: true }),
  ]);
  if (temporalResult.status === 'rejected' || emulatorResult.status === 'rejected') {
    // Stop whichever did start before reporting the failure.
    if (temporalResult.status === 'fulfilled') await temporalResult.value.stop();
    if (emulatorResult.status === 'fulfilled') await emulatorResult.value?.stop();
    rmSync(bundleCache, { recursive: true, force: true });
    throw temporalResult.status === 'rejected' ? temporalResult.reason : (emulatorResult as PromiseRejectedResult).reason;
  }
  const temporal = temporalResult.value;
  const emulator = emulatorResult.value;

  project.provide('temporalAddress', temporal.address);
  project.provide('temporalNamespace', temporal.namespace);
  project.provide('temporalNamespaces', external !== undefined && external !== '' ? [temporal.namespace] : [temporal.namespace, ...extraNamespaces]);
  // Worker processes are forked after global setup and inherit these.
  process.env.TEMPORAL_ADDRESS = temporal.address;
  process.env.TEMPORAL_NAMESPACE = temporal.namespace;
  if (emulator !== undefined) {
    project.provide('bqEmulatorEndpoint', emulator.endpoint);
    process.env.BQ_EMULATOR_ENDPOINT = emulator.endpoint;
    process.env.BQ_EMULATOR_GRPC_PORT = String(emulator.grpcPort);
  }

  return async () => {
    await Promise.allSettled([temporal.stop(), emulator?.stop()]);
    rmSync(bundleCache, { recursive: true, force: true });
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
}
