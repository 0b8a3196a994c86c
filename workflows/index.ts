/** Every workflow the worker registers (the bundle's entry point). */
export { campaignWorkflow } from './campaign';
export { settlePledgeWorkflow } from './settle-pledge';
export { settlePledgeBatchWorkflow } from './settle-pledge-batch';
export { notificationOutboxWorkflow } from './notification-outbox';
export { pendingPledgeSweepWorkflow, sweepPendingPledgesWorkflow } from './pending-pledge-sweep';
export { dataRetentionWorkflow } from './data-retention';
export { campaignUpdateSendWorkflow } from './update-send';
export { surveyInvitationsWorkflow } from './survey-invitations';
export { surveyRemindersWorkflow } from './survey-reminders';
