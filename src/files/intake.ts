/**
 * Turns a landed file into the file workflow's input: a first, lenient read of the manifest for the
 * workflow id and search attributes. Validation, inside the workflow, has the final word on every field.
 */
import { createHash } from 'node:crypto';
import type { FileWorkflowInput } from '../domain/workflow-api.js';
import { fileKindSchema } from '../domain/contract.js';
import type { Landing, StoredIn } from './landing.js';

export const intakeInput = async (input: {
  landing: Landing;
  fileId: string;
  clientId: string;
  from?: StoredIn;
  replay?: boolean;
  today?: string;
}): Promise<FileWorkflowInput> => {
  const from = input.from ?? 'incoming';
  const text = (await input.landing.readManifest(input.fileId, from)) ?? '';
  let manifest: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) manifest = parsed as Record<string, unknown>;
  } catch {
    // An unreadable manifest still gets a workflow: it is registered, rejected and quarantined there.
  }
  const kind = fileKindSchema.safeParse(manifest.kind);
  const covers = Array.isArray(manifest.covers) ? manifest.covers.filter((d): d is string => typeof d === 'string') : [];
  const sha256 =
    typeof manifest.sha256 === 'string' && /^[0-9a-f]{64}$/.test(manifest.sha256)
      ? manifest.sha256
      : createHash('sha256').update(text).digest('hex');
  return {
    clientId: input.clientId,
    fileId: input.fileId,
    sha256,
    kind: kind.success ? kind.data : 'unknown',
    covers,
    sequence: typeof manifest.sequence === 'number' && Number.isInteger(manifest.sequence) ? manifest.sequence : -1,
    from,
    replay: input.replay ?? false,
    ...(input.today ? { today: input.today } : {}),
  };
};
