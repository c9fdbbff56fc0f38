/**
 * The data converter every Temporal client and worker of the pipeline uses: payloads encrypted when
 * PAYLOAD_KEY is set, plain (the SDK default) otherwise. Workers built from a pre-bundled workflow must
 * bundle with `failureConverterPath` too (see `workflowBundle` in src/workers/bundle.ts).
 */
import { fileURLToPath } from 'node:url';
import type { DataConverter } from '@temporalio/common';
import { EncryptionCodec } from './encryption-codec.js';

export const failureConverterPath = fileURLToPath(new URL('./failure-converter.ts', import.meta.url));

/** The converter for `new Client({ dataConverter })` and `Worker.create({ dataConverter })`; undefined without a key. */
export const pipelineDataConverter = (config: { PAYLOAD_KEY?: string | undefined }): DataConverter | undefined =>
  config.PAYLOAD_KEY
    ? { payloadCodecs: [EncryptionCodec.fromBase64(config.PAYLOAD_KEY)], failureConverterPath }
    : undefined;
