// The worker bundles this module: every workflow type the task queues serve.
import { setWorkflowOptions } from '@temporalio/workflow';
import { dailyWorkflow } from './daily-workflow.js';
import { fileWorkflow } from './file-workflow.js';
import { kafkaSupervisorWorkflow } from './kafka-supervisor-workflow.js';
import { landingWorkflow } from './landing-workflow.js';
import { restoreWorkflow } from './restore-workflow.js';
import { streamWorkflow } from './stream-workflow.js';

/*
 * Worker Versioning (docs/deploy.md#deploys-that-never-break-runs-in-flight), used when the worker runs with a
 * deployment version (WORKER_DEPLOYMENT_NAME, WORKER_BUILD_ID): a run of a bounded workflow stays on the build that
 * started it until it ends; the never-ending ones move to the current build at their next workflow task, so every
 * change to them goes behind patched() and through the replay gate.
 */
setWorkflowOptions({ versioningBehavior: 'PINNED' }, fileWorkflow);
setWorkflowOptions({ versioningBehavior: 'PINNED' }, dailyWorkflow);
setWorkflowOptions({ versioningBehavior: 'PINNED' }, restoreWorkflow);
setWorkflowOptions({ versioningBehavior: 'AUTO_UPGRADE' }, streamWorkflow);
setWorkflowOptions({ versioningBehavior: 'AUTO_UPGRADE' }, kafkaSupervisorWorkflow);
setWorkflowOptions({ versioningBehavior: 'AUTO_UPGRADE' }, landingWorkflow);

export { dailyWorkflow, fileWorkflow, kafkaSupervisorWorkflow, landingWorkflow, restoreWorkflow, streamWorkflow };
