/**
 * The data converter every Temporal client and worker of the pipeline uses: payloads encrypted when
 * PAYLOAD_KEY is set, plain (the SDK default) otherwise. Workers built from a pre-bundled workflow must
 * bundle with `failureConverterPath` too (see `workflowBundle` in src/workers/bundle.ts).
 */
import { fileURLToPath } from 'node:url';
import type { DataConverter } from '@temporalio/common';
import { EncryptionCodec, parseKey } from './encryption-codec.js';

export const failureConverterPath = fileURLToPath(new URL('./failure-converter.ts', import.meta.url));

export interface PayloadKeyConfig {
  /** The key used so far (its id is its digest, `k-…`). */
  PAYLOAD_KEY?: string | undefined;
  /** More keys, `id:key` entries parsed by src/config.ts. */
  PAYLOAD_KEYS?: ReadonlyArray<{ id?: string; key: string }> | undefined;
  /** The key that encrypts; unset: PAYLOAD_KEY, or the only key of PAYLOAD_KEYS. */
  PAYLOAD_KEY_ID?: string | undefined;
}

/**
 * The codec of the configured keys, or undefined when none is set. Every key decrypts; the one PAYLOAD_KEY_ID names
 * encrypts (PAYLOAD_KEY when unset), so a new key is rolled out by naming it while the old ones stay listed.
 */
export const pipelineCodec = (config: PayloadKeyConfig): EncryptionCodec | undefined => {
  const keys = [
    ...(config.PAYLOAD_KEY ? [{ key: parseKey(config.PAYLOAD_KEY) }] : []),
    ...(config.PAYLOAD_KEYS ?? []).map((k) => ({ ...(k.id !== undefined ? { id: k.id } : {}), key: parseKey(k.key) })),
  ];
  if (keys.length === 0) return undefined;
  return new EncryptionCodec({ keys, ...(config.PAYLOAD_KEY_ID ? { encryptWith: config.PAYLOAD_KEY_ID } : {}) });
};

/** The converter for `new Client({ dataConverter })` and `Worker.create({ dataConverter })`; undefined without a key. */
export const pipelineDataConverter = (config: PayloadKeyConfig): DataConverter | undefined => {
  const codec = pipelineCodec(config);
  return codec ? { payloadCodecs: [codec], failureConverterPath } : undefined;
};
