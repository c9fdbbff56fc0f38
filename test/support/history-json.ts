/**
 * Recorded histories for replay tests: saved as the Temporal CLI exports them (`temporal workflow show --output json`)
 * and read back as a History.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { repoRoot } from './servers.js';

/**
 * Proto JSON → History, decoded with the protobufjs copy that @temporalio/proto's types belong to (the SDK's own
 * `historyFromJSON` uses another copy when two are installed, and its `instanceof Type` check fails).
 */
export const historyFromJson = (json: unknown): unknown => {
  const requireFromProto = createRequire(createRequire(import.meta.url).resolve('@temporalio/proto'));
  const { fromJson } = requireFromProto('protobufjs/ext/protojson') as {
    fromJson: (type: unknown, json: unknown, options: { ignoreUnknownFields: boolean }) => unknown;
  };
  const proto = requireFromProto('@temporalio/proto') as object;
  const { patchProtobufRoot } = requireFromProto('@temporalio/proto/lib/patch-protobuf-root') as {
    patchProtobufRoot: (root: object) => { lookupType: (name: string) => unknown };
  };
  return fromJson(patchProtobufRoot(proto).lookupType('temporal.api.history.v1.History'), json, { ignoreUnknownFields: true });
};

/** Writes a workflow's history to `path` through the Temporal CLI. */
export const saveHistory = (path: string, workflowId: string, address: string): void => {
  const cli = existsSync(join(repoRoot, '.tools/bin/temporal')) ? join(repoRoot, '.tools/bin/temporal') : 'temporal';
  const json = execFileSync(cli, ['workflow', 'show', '--workflow-id', workflowId, '--address', address, '--output', 'json'], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(JSON.parse(json), null, 1)}\n`);
};
