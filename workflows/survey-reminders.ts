/**
 * Reminds a sent survey's backers who have not answered (one workflow per survey, `survey-<id>-reminders`, started
 * by the send endpoint): every `intervalMs` (two days) on a durable timer, one round of reminders to those still
 * unanswered, paged like the invitations, until every backer has answered or the creator locks the survey. Locking
 * signals it (`surveyLockedSignal`), which wakes it at once and ends it; a lock whose signal was lost is still seen
 * in Postgres at the next round, and a locked survey mails nobody. Reminder `n` of a pledge has its own dedupe key,
 * so a round repeated after a crash queues nothing twice. A run hands over to a new one (continue-as-new) once its
 * history grows, carrying the reminders so far and the round in progress.
 */
import { condition, continueAsNew, setHandler, workflowInfo } from '@temporalio/workflow';
import { databaseActivities } from './activity-proxies';
import { surveyLockedSignal, type SurveyRemindersInput, type SurveyRemindersOutcome } from './survey-messages';

export async function surveyRemindersWorkflow(input: SurveyRemindersInput): Promise<SurveyRemindersOutcome> {
  let locked = false;
  setHandler(surveyLockedSignal, () => {
    locked = true;
  });

  const { surveyId } = input;
  let remindersSent = input.resume?.remindersSent ?? 0;
  let round = input.resume?.round ?? null;
  const ended = (why: SurveyRemindersOutcome['ended']): SurveyRemindersOutcome => ({ ended: why, remindersSent });
  const historyFull = () => workflowInfo().historyLength >= input.maxHistoryEvents || workflowInfo().continueAsNewSuggested;
  const handOver = () => continueAsNew<typeof surveyRemindersWorkflow>({ ...input, resume: { remindersSent, round } });

  for (;;) {
    if (round === null) {
      if (historyFull()) return handOver();
      if (await condition(() => locked, input.intervalMs)) return ended('locked');
      const state = await databaseActivities.surveyReminderState({ surveyId });
      if (state.status === 'locked') return ended('locked');
      // Started by a send whose commit failed: nothing to remind of unless the creator sends it again.
      if (state.status === 'draft') continue;
      if (state.unanswered === 0) return ended('all_answered');
      remindersSent += 1;
      round = { reminder: remindersSent, afterPledgeId: null };
    }
    const page = await databaseActivities.remindSurveyBackers({ surveyId, reminder: round.reminder, afterPledgeId: round.afterPledgeId, limit: input.pageSize });
    round = page.nextCursor === null ? null : { reminder: round.reminder, afterPledgeId: page.nextCursor };
    if (locked) return ended('locked');
    if (round !== null) {
      if (historyFull()) return handOver();
      // The pause between pages; a lock ends the round at once.
      if (await condition(() => locked, input.pagePauseMs)) return ended('locked');
    }
  }
}
