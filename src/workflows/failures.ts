/** How the workflows read a failure: pure, safe inside the workflow sandbox. */

/** The innermost message: an activity's failure arrives wrapped as "Activity task failed". */
export const rootMessage = (error: unknown): string => {
  let current = error;
  while (current instanceof Error && current.cause instanceof Error) current = current.cause;
  return current instanceof Error ? current.message : String(current);
};
