// The worker bundles this module: every workflow type the task queues serve.
import type { VersioningBehavior } from '@temporalio/common';
import { setWorkflowOptions, workflowInfo } from '@temporalio/workflow';
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
/** The server refuses a versioning behaviour from an unversioned worker, so it is declared only on a versioned one. */
const versioned = (versioningBehavior: VersioningBehavior) => (): { versioningBehavior?: VersioningBehavior } =>
  workflowInfo().currentDeploymentVersion?.deploymentName ? { versioningBehavior } : {};

setWorkflowOptions(versioned('PINNED'), fileWorkflow);
setWorkflowOptions(versioned('PINNED'), dailyWorkflow);
setWorkflowOptions(versioned('PINNED'), restoreWorkflow);
setWorkflowOptions(versioned('AUTO_UPGRADE'), streamWorkflow);
setWorkflowOptions(versioned('AUTO_UPGRADE'), kafkaSupervisorWorkflow);
setWorkflowOptions(versioned('AUTO_UPGRADE'), landingWorkflow);

export { dailyWorkflow, fileWorkflow, kafkaSupervisorWorkflow, landingWorkflow, restoreWorkflow, streamWorkflow };
