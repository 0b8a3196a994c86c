/**
 * The survey workflows' ids, inputs and signal: one definition that the workflows use and the API sends.
 * Both workflows are per survey and started when the creator sends it; their ids are business keys, so a send
 * retried by the creator (or by the API after a failure) never starts a second one.
 */
import { defineSignal } from '@temporalio/workflow';

/** The creator locked the survey: reminders stop at once (the workflow ends). */
export const surveyLockedSignal = defineSignal('surveyLocked');

export const surveyInvitationsWorkflowId = (surveyId: string) => `survey-${surveyId}-invitations`;
export const surveyRemindersWorkflowId = (surveyId: string) => `survey-${surveyId}-reminders`;

/** How a survey's mails are paced: pages of backers, each enqueued in one transaction, a pause between pages. */
export interface SurveyMailPacing {
  /** Backers per page (one activity, one transaction). */
  pageSize: number;
  /** The pause between two pages, so a large survey fills the outbox a page at a time, as settlement paces Stripe. */
  pagePauseMs: number;
  /** A run continues as new once its history reaches this many events. */
  maxHistoryEvents: number;
}

export const DEFAULT_SURVEY_PACING: SurveyMailPacing = { pageSize: 500, pagePauseMs: 1_000, maxHistoryEvents: 2_000 };
/** Reminders every two days until every backer has answered or the survey is locked. */
export const SURVEY_REMINDER_INTERVAL_MS = 2 * 24 * 60 * 60 * 1000;

export interface SurveyInvitationsInput extends SurveyMailPacing {
  surveyId: string;
  /** Carried across continue-as-new: the last pledge invited, and how many so far. */
  resume?: { afterPledgeId: string | null; invited: number };
}

export interface SurveyRemindersInput extends SurveyMailPacing {
  surveyId: string;
  intervalMs: number;
  /**
   * Carried across continue-as-new: reminders begun so far, and the round in progress (its number, the last pledge
   * reminded) when a run handed over in the middle of one.
   */
  resume?: { remindersSent: number; round: { reminder: number; afterPledgeId: string | null } | null };
}

export type SurveyRemindersOutcome = { ended: 'all_answered' | 'locked'; remindersSent: number };
