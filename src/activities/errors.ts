import { ApplicationFailure } from '@temporalio/activity';
import { WarehouseError } from '../warehouse/port.js';

/**
 * Adapter errors that retrying cannot fix become non-retryable failures with an explicit type;
 * everything else (network, conflicts, timeouts) stays retryable.
 */
export const classified = async <T>(work: () => Promise<T>): Promise<T> => {
  try {
    return await work();
  } catch (error) {
    if (error instanceof WarehouseError && error.code !== 'CONFLICT') {
      throw ApplicationFailure.nonRetryable(error.message, 'WarehouseInvariant');
    }
    throw error;
  }
};
