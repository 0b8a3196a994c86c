/**
 * Invites a sent survey's backers to answer it (one workflow per survey, `survey-<id>-invitations`, started by the
 * send endpoint): a page of backers per activity, each page queued in the outbox in one transaction, a pause between
 * pages, and a new run once the history grows, so 100,000 backers are neither one transaction nor one history.
 * Every mail's dedupe key is per survey and pledge: a page repeated after a crash queues nothing twice.
 */
import { continueAsNew, sleep, workflowInfo } from '@temporalio/workflow';
import { databaseActivities } from './activity-proxies';
import { type SurveyInvitationsInput } from './survey-messages';

export async function surveyInvitationsWorkflow(input: SurveyInvitationsInput): Promise<{ invited: number }> {
  let afterPledgeId = input.resume?.afterPledgeId ?? null;
  let invited = input.resume?.invited ?? 0;
  for (;;) {
    const page = await databaseActivities.inviteSurveyBackers({ surveyId: input.surveyId, afterPledgeId, limit: input.pageSize });
    invited += page.mailed;
    if (page.nextCursor === null) return { invited };
    afterPledgeId = page.nextCursor;
    if (workflowInfo().historyLength >= input.maxHistoryEvents) {
      return continueAsNew<typeof surveyInvitationsWorkflow>({ ...input, resume: { afterPledgeId, invited } });
    }
    await sleep(input.pagePauseMs);
  }
}
