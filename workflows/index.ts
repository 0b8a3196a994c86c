/** Every workflow the worker registers (the bundle's entry point). */
export { campaignWorkflow } from './campaign';
export { settlePledgeWorkflow } from './settle-pledge';
export { notificationOutboxWorkflow } from './notification-outbox';
export { pendingPledgeSweepWorkflow, sweepPendingPledgesWorkflow } from './pending-pledge-sweep';
export { dataRetentionWorkflow } from './data-retention';
