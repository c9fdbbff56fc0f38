// The worker bundles this module: every workflow type the task queue serves.
export { fileWorkflow } from './file-workflow.js';
export { streamWorkflow } from './stream-workflow.js';
export { dailyWorkflow } from './daily-workflow.js';
export { landingWorkflow } from './landing-workflow.js';
export { kafkaSupervisorWorkflow } from './kafka-supervisor-workflow.js';
export { restoreWorkflow } from './restore-workflow.js';
