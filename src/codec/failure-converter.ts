/**
 * Failure messages and stack traces carry file names, lines and offending values: with payload encryption on,
 * they are moved into an encoded payload (`encodeCommonAttributes`) so the codec seals them too.
 * Loaded by path (`failureConverterPath`), in the workflow sandbox as well: imports nothing but the SDK.
 */
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
