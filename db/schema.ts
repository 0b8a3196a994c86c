/**
 * The kysely view of the schema built by db/migrations. Money columns are `bigint` in Postgres and whole
 * numbers of minor units here (db/database.ts parses int8 and refuses values beyond 2^53).
 */
import { type ColumnType, type Generated, type Insertable, type Selectable, type Updateable } from 'kysely';

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
type UpdatedAt = ColumnType<Date, Date | string | undefined, Date | string>;
type Json = ColumnType<unknown, string, string>;

export type Role = 'user' | 'support' | 'ops';
export type FinancingModel = 'aon' | 'kia' | 'hybrid';
export type CampaignStatus = 'draft' | 'scheduled' | 'active' | 'settling' | 'funded' | 'failed' | 'cancelled';
export type PledgeStatus =
  | 'pending'
  | 'requires_action'
  | 'authorized'
  | 'captured'
  | 'errored'
  | 'dropped'
  | 'released'
  | 'cancelled'
  | 'failed'
  | 'refunded';
/** Pledges whose money counts toward the goal (the partial index `pledges_live_idx`). */
export const COUNTED_PLEDGE_STATUSES = ['authorized', 'captured'] as const satisfies readonly PledgeStatus[];
/** Pledges that block a second pledge by the same backer (the unique index `pledges_one_live_per_backer`). */
export const LIVE_PLEDGE_STATUSES = ['pending', 'requires_action', 'authorized', 'captured', 'errored'] as const satisfies readonly PledgeStatus[];
export type LedgerKind =
  | 'capture'
  | 'refund'
  | 'processing_fee'
  | 'platform_fee'
  | 'platform_fee_reversal'
  | 'transfer'
  | 'transfer_reversal'
  /** A refund that failed after it was made: its money back with the platform (0010). */
  | 'refund_failed'
  /** A chargeback (0011): the disputed amount Stripe withdrew, its dispute fee, and the amount back when won. */
  | 'dispute_withdrawal'
  | 'dispute_fee'
  | 'dispute_reinstatement'
  /** The payout's reserve against chargebacks (0012): held back, drawn on by disputes lost, released. Not Stripe movements. */
  | 'reserve_held'
  | 'reserve_drawn'
  | 'reserve_released';

export interface UsersTable {
  id: Generated<string>;
  email: string;
  name: string;
  password_hash: string;
  role: Generated<Role>;
  stripe_customer_id: string | null;
  stripe_account_id: string | null;
  charges_enabled: Generated<boolean>;
  payouts_enabled: Generated<boolean>;
  details_submitted: Generated<boolean>;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
  /** When the account proved it receives mail at its address (0017); null until then: no pledging or publishing. */
  email_verified_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export interface AuthTokensTable {
  id: Generated<string>;
  user_id: string;
  token_hash: string;
  created_at: CreatedAt;
  expires_at: Timestamp;
  revoked_at: Timestamp | null;
  /** When the session passed the second factor (0017); staff routes refuse a staff session without it. */
  second_factor_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

/** A link mailed to confirm an account's address (0017): only an HMAC of its token is stored; used once. */
export interface EmailVerificationsTable {
  id: Generated<string>;
  user_id: string;
  token_hash: string;
  created_at: CreatedAt;
  expires_at: Timestamp;
  used_at: Timestamp | null;
  /** A newer link was mailed, or the account was signed up for again: this one no longer works. */
  revoked_at: Timestamp | null;
}

/** A staff member's TOTP second factor (0017): the secret encrypted, and the last time step whose code was used. */
export interface TotpFactorsTable {
  user_id: string;
  secret_ciphertext: string;
  created_at: CreatedAt;
  confirmed_at: Timestamp | null;
  last_used_step: number | null;
}

export interface LoginAttemptsTable {
  id: Generated<number>;
  email: string;
  ip: string;
  succeeded: boolean;
  attempted_at: CreatedAt;
}

export interface CampaignsTable {
  id: Generated<string>;
  creator_id: string;
  title: string;
  slug: string;
  description: Generated<string>;
  goal_amount: number;
  currency: string;
  model: FinancingModel;
  status: Generated<CampaignStatus>;
  platform_fee_bps: Generated<number>;
  refund_terms: string | null;
  starts_at: Timestamp;
  ends_at: Timestamp;
  workflow_id: string | null;
  cancel_reason: string | null;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
  published_at: Timestamp | null;
  activated_at: Timestamp | null;
  settling_at: Timestamp | null;
  funded_at: Timestamp | null;
  failed_at: Timestamp | null;
  cancelled_at: Timestamp | null;
  paid_out_at: Timestamp | null;
  closed_at: Timestamp | null;
}

export interface RewardsTable {
  id: Generated<string>;
  campaign_id: string;
  title: string;
  description: Generated<string>;
  min_pledge: number;
  limit_qty: number | null;
  claimed_qty: Generated<number>;
  /** A calendar date, kept as 'YYYY-MM-DD' text (db/database.ts leaves `date` unparsed). */
  ships_at: string | null;
  created_at: CreatedAt;
}

export interface StretchGoalsTable {
  id: Generated<string>;
  campaign_id: string;
  title: string;
  target_amount: number;
  unlocked_at: Timestamp | null;
  created_at: CreatedAt;
}

export interface PledgesTable {
  id: Generated<string>;
  campaign_id: string;
  backer_id: string;
  reward_id: string | null;
  amount: number;
  currency: string;
  status: Generated<PledgeStatus>;
  payment_method_id: string | null;
  /** hold, save (SetupIntent) or charge: how placement asked Stripe, so the sweep can ask again identically. */
  placement: 'hold' | 'save' | 'charge' | null;
  /** Changes made to a held pledge; each re-authorizes under `pledge-<id>-authorize-<revision>`. */
  revision: Generated<number>;
  payment_intent_id: string | null;
  setup_intent_id: string | null;
  hold_expires_at: Timestamp | null;
  amount_captured: Generated<number>;
  amount_refunded: Generated<number>;
  processing_fee: Generated<number>;
  failure_code: string | null;
  failure_message: string | null;
  settlement_attempts: Generated<number>;
  grace_ends_at: Timestamp | null;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
  authorized_at: Timestamp | null;
  captured_at: Timestamp | null;
  errored_at: Timestamp | null;
  dropped_at: Timestamp | null;
  released_at: Timestamp | null;
  cancelled_at: Timestamp | null;
  refunded_at: Timestamp | null;
  /** Cancelled, and Stripe may still hold the card: the pending-pledge sweep releases the holds. */
  hold_release_pending: Generated<boolean>;
  /** A change of amount waiting for 3-D Secure: its hold, amount and reward (whose unit it claimed). */
  pending_payment_intent_id: string | null;
  pending_amount: number | null;
  pending_reward_id: string | null;
  /** When a chargeback was first seen (0011); the status still says where the pledge's money stands. */
  disputed_at: Timestamp | null;
  /** The client address the pledge was placed from (0014), sent to Stripe Radar with its placement request. */
  placed_from_ip: string | null;
}

export interface PayoutsTable {
  id: Generated<string>;
  campaign_id: string;
  destination_account_id: string;
  /** The payout's figures are in `currency`, the platform's settlement currency (the transfer's). */
  amount: number;
  currency: string;
  gross_captured: number;
  refunded: number;
  platform_fee: number;
  processing_fees: number;
  status: Generated<'pending' | 'paid' | 'failed'>;
  stripe_transfer_id: string | null;
  /** The current version (`payout_attempts`); amount, fees and key above are that version's. */
  version: Generated<number>;
  idempotency_key: string;
  created_at: CreatedAt;
  paid_at: Timestamp | null;
  /** Held back from the transfer against chargebacks (0012), settlement currency; released by a second transfer. */
  reserve_amount: Generated<number>;
  reserve_status: 'held' | 'releasing' | 'released' | null;
  /** What the release pays: the reserve less what disputes drew on it, fixed when the release begins. */
  reserve_release_amount: Generated<number>;
  reserve_release_transfer_id: string | null;
  reserve_release_attempts: Generated<number>;
  reserve_released_at: Timestamp | null;
}

/** One Transfer request of a payout: its own amount and key; the next version only once Stripe refused this one. */
export interface PayoutAttemptsTable {
  id: Generated<string>;
  payout_id: string;
  version: number;
  amount: number;
  platform_fee: number;
  idempotency_key: string;
  status: Generated<'pending' | 'refused' | 'paid'>;
  failure_code: string | null;
  failure_message: string | null;
  stripe_transfer_id: string | null;
  created_at: CreatedAt;
  completed_at: Timestamp | null;
}

export interface RefundsTable {
  id: Generated<string>;
  pledge_id: string;
  amount: number;
  currency: string;
  reason: string;
  requested_by: string | null;
  status: Generated<'requested' | 'succeeded' | 'failed'>;
  stripe_refund_id: string | null;
  idempotency_key: string;
  transfer_reversal_id: string | null;
  /** The creator's share to take back, decided when the refund is recorded after the payout; settlement-currency minor units. */
  transfer_reversal_amount: Generated<number>;
  failure_message: string | null;
  created_at: CreatedAt;
  completed_at: Timestamp | null;
  /** Calls to Stripe's refund endpoint so far: counted before each, so a retry first looks for what one made. */
  attempts: Generated<number>;
  /** Null until the refund is made; then whether the creator's share comes back, and whether it has. */
  reversal_status: 'pending' | 'succeeded' | 'not_needed' | null;
  reversal_attempts: Generated<number>;
  /** `<staff user id>:<Idempotency-Key>` of the support request that asked for this refund. */
  request_key: string | null;
  /** Stripe's status of the refund once made (`pending` until the bank confirms; it may still fail then). */
  stripe_status: 'pending' | 'requires_action' | 'succeeded' | 'failed' | 'canceled' | null;
  /** Stripe's `failure_reason` of a refund that failed after it was made. */
  failure_reason: string | null;
  /** When a refund that had been made was found failed and its money put back in the books. */
  failed_at: Timestamp | null;
  /** The creator's share paid again by a transfer after the refund failed (the payout had gone out). */
  restore_amount: Generated<number>;
  restore_status: 'pending' | 'succeeded' | null;
  restore_transfer_id: string | null;
  restore_attempts: Generated<number>;
}

export interface LedgerEntriesTable {
  id: Generated<number>;
  campaign_id: string;
  pledge_id: string | null;
  kind: LedgerKind;
  amount: number;
  currency: string;
  stripe_object_id: string;
  /** Captures and their fees: when Stripe makes the charge's funds available (its balance transaction's `available_on`). */
  available_on: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  /** What moved in the platform's settlement currency (the balance transaction); equal to `amount` when not converted. */
  settlement_amount: ColumnType<number, number | undefined, never>;
  settlement_currency: ColumnType<string, string | undefined, never>;
  /** Stripe's rate, settlement-currency major units per presentment major unit; null when nothing was converted. numeric: a string. */
  exchange_rate: ColumnType<string | null, string | number | null | undefined, never>;
  created_at: CreatedAt;
}

export interface StripeEventsTable {
  id: string;
  type: string;
  /** The event as delivered; null once past retention (0016). The row stays: its id de-duplicates replays. */
  payload: ColumnType<unknown, string, string | null>;
  received_at: CreatedAt;
  processed_at: Timestamp | null;
}

export interface NotificationsTable {
  id: Generated<number>;
  recipient_id: string;
  template: string;
  payload: Json;
  dedupe_key: string;
  attempts: Generated<number>;
  last_error: string | null;
  created_at: CreatedAt;
  sent_at: Timestamp | null;
  /** When delivery may be tried (again): written as now, then pushed back exponentially after each failure. */
  next_attempt_at: ColumnType<Date, Date | string | undefined, Date | string>;
  /** Set after too many failed attempts: no longer retried, listed for ops. */
  parked_at: Timestamp | null;
}

export interface IdempotencyKeysTable {
  user_id: string;
  key: string;
  method: string;
  path: string;
  request_hash: string;
  response_status: number | null;
  response_body: Json | null;
  created_at: CreatedAt;
  completed_at: Timestamp | null;
}

export type DisputeStatus =
  | 'warning_needs_response'
  | 'warning_under_review'
  | 'warning_closed'
  | 'needs_response'
  | 'under_review'
  | 'won'
  | 'lost'
  | 'prevented';
/** Disputes support can still act on (evidence, accept). */
export const OPEN_DISPUTE_STATUSES = ['warning_needs_response', 'warning_under_review', 'needs_response', 'under_review'] as const satisfies readonly DisputeStatus[];
/**
 * How a dispute's loss was borne, decided once when it closed: taken off the payout (lost before it); drawn from the
 * payout's reserve (reserve: it covered the creator's whole share); taken back from the creator by a transfer reversal
 * (pending, then reversed; `reserve_drawn` says how much of the share the reserve covered first); borne by the platform; or nothing to bear (won).
 */
export type DisputeRecovery = 'payout' | 'reserve' | 'pending' | 'reversed' | 'platform' | 'not_needed';

/** A chargeback, as Stripe has it now (0011). Amount in the presentment currency; withdrawal and fee in settlement. */
export interface DisputesTable {
  id: Generated<string>;
  stripe_dispute_id: string;
  campaign_id: string;
  pledge_id: string;
  charge_id: string;
  payment_intent_id: string | null;
  amount: number;
  currency: string;
  settlement_amount: Generated<number>;
  fee: Generated<number>;
  settlement_currency: string | null;
  status: DisputeStatus;
  reason: string;
  evidence_due_by: Timestamp | null;
  evidence_submitted_at: Timestamp | null;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
  closed_at: Timestamp | null;
  recovery: DisputeRecovery | null;
  /** Taken back from the creator's Connect account (settlement currency). */
  recovery_amount: Generated<number>;
  /** Commission the platform gives up on the lost amount (settlement currency). */
  platform_fee_reversal: Generated<number>;
  recovery_reversal_id: string | null;
  recovery_attempts: Generated<number>;
  /** The part of the creator's share drawn from the payout's reserve (0012), settlement currency. */
  reserve_drawn: Generated<number>;
}

export type StaffAuditAction =
  | 'refund.requested'
  | 'settlement.retried'
  | 'campaign.cancelled'
  | 'role.granted'
  | 'role.revoked'
  | 'dispute.evidence_submitted'
  | 'dispute.accepted'
  | 'commission.overridden'
  /** A staff member's TOTP second factor confirmed (by themselves), or removed (by ops or the command line) (0017). */
  | 'totp.enrolled'
  | 'totp.reset'
  /** A staff member downloaded a campaign's backer report: backers' emails and addresses (0019). */
  | 'backer_report.exported';
export type StaffAuditObjectType = 'pledge' | 'campaign' | 'user' | 'dispute';

/** One staff action (0013), append-only: who (a staff member and their role then, or the command line), what, on what. */
export interface StaffAuditLogTable {
  id: ColumnType<number, never, never>;
  occurred_at: CreatedAt;
  actor_id: string | null;
  actor_role: Role | null;
  /** The staff member's email when they acted, or `cli`. */
  actor_label: string;
  action: StaffAuditAction;
  object_type: StaffAuditObjectType;
  object_id: string;
  /** Amounts, reasons, old and new values. */
  details: Json;
  request_id: string | null;
}

export type VelocityAction = 'pledge' | 'payment_method' | 'signup';
/** pending: claimed, Stripe not answered yet (weighs as a decline); not_asked: refused before Stripe heard of it. */
export type VelocityOutcome = 'pending' | 'succeeded' | 'declined' | 'unanswered' | 'not_asked';

export interface VelocityEventsTable {
  id: Generated<number>;
  action: VelocityAction;
  user_id: string | null;
  ip: string | null;
  /** `fp:<card fingerprint>`, or `pm:<PaymentMethod id>` when Stripe gave no fingerprint. */
  card: string | null;
  outcome: VelocityOutcome;
  weight: number;
  occurred_at: CreatedAt;
}

export type ReconciliationJobStatus = 'queued' | 'running' | 'succeeded' | 'failed';

/** A reconciliation run through the API, in the background (db/migrations/0015_reconciliation_jobs.ts). */
export interface ReconciliationJobsTable {
  id: Generated<string>;
  campaign_id: string;
  requested_by: string | null;
  status: ColumnType<ReconciliationJobStatus, ReconciliationJobStatus | undefined, ReconciliationJobStatus>;
  pledges_checked: ColumnType<number, number | undefined, number>;
  pledges_total: number | null;
  /** The report as ops read it (src/reconciliation/report.ts), once succeeded. */
  result: ColumnType<unknown, string | null | undefined, string | null>;
  error: string | null;
  created_at: CreatedAt;
  started_at: Date | null;
  finished_at: Date | null;
  heartbeat_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export type UpdateAudience = 'public' | 'backers';
export type UpdateSendStatus = 'pending' | 'sending' | 'sent';

/**
 * A creator's update to a campaign (0018): markdown as written, numbered per campaign, and the progress of its mail
 * to the backers (`send_cursor`: the last backer, by user id, whose mail is in the outbox).
 */
export interface CampaignUpdatesTable {
  id: Generated<string>;
  campaign_id: string;
  author_id: string;
  number: number;
  title: string;
  body: string;
  audience: UpdateAudience;
  /** `<creator id>:<Idempotency-Key>` of the POST that made it. */
  request_key: string | null;
  created_at: CreatedAt;
  send_status: ColumnType<UpdateSendStatus, UpdateSendStatus | undefined, UpdateSendStatus>;
  send_cursor: string | null;
  recipients_queued: Generated<number>;
  pages_queued: Generated<number>;
  send_started_at: Timestamp | null;
  send_finished_at: Timestamp | null;
}

/** A user who asked for no more mail about one campaign's updates (0018). */
export interface CampaignUnsubscribesTable {
  user_id: string;
  campaign_id: string;
  created_at: CreatedAt;
}

export type SurveyStatus = 'draft' | 'sent' | 'locked';
export type SurveyQuestionKind = 'text' | 'choice' | 'shipping_address';
/** One question of a survey as stored (0019); src/surveys/questions.ts validates what creators send. */
export interface SurveyQuestion {
  id: string;
  kind: SurveyQuestionKind;
  prompt: string;
  /** The choices of a `choice` question. */
  options?: string[];
  required: boolean;
}

/** A backer survey (0019): one per reward per campaign, `reward_id` null for the backers without a reward. */
export interface SurveysTable {
  id: Generated<string>;
  campaign_id: string;
  reward_id: string | null;
  questions: ColumnType<SurveyQuestion[], string, string>;
  status: ColumnType<SurveyStatus, SurveyStatus | undefined, SurveyStatus>;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
  sent_at: Timestamp | null;
  locked_at: Timestamp | null;
}

/** A backer's answers to a survey for one pledge (0019), changed in place until the survey is locked. */
export interface SurveyResponsesTable {
  survey_id: string;
  pledge_id: string;
  backer_id: string;
  /** Question id to answer: a string, or a shipping address object. */
  answers: ColumnType<Record<string, unknown>, string, string>;
  answered_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface Database {
  users: UsersTable;
  auth_tokens: AuthTokensTable;
  login_attempts: LoginAttemptsTable;
  campaigns: CampaignsTable;
  rewards: RewardsTable;
  stretch_goals: StretchGoalsTable;
  pledges: PledgesTable;
  payouts: PayoutsTable;
  payout_attempts: PayoutAttemptsTable;
  refunds: RefundsTable;
  ledger_entries: LedgerEntriesTable;
  stripe_events: StripeEventsTable;
  notifications: NotificationsTable;
  idempotency_keys: IdempotencyKeysTable;
  disputes: DisputesTable;
  staff_audit_log: StaffAuditLogTable;
  velocity_events: VelocityEventsTable;
  reconciliation_jobs: ReconciliationJobsTable;
  email_verifications: EmailVerificationsTable;
  totp_factors: TotpFactorsTable;
  campaign_updates: CampaignUpdatesTable;
  campaign_unsubscribes: CampaignUnsubscribesTable;
  surveys: SurveysTable;
  survey_responses: SurveyResponsesTable;
}

export type User = Selectable<UsersTable>;
export type NewUser = Insertable<UsersTable>;
export type Campaign = Selectable<CampaignsTable>;
export type NewCampaign = Insertable<CampaignsTable>;
export type CampaignUpdate = Updateable<CampaignsTable>;
export type Reward = Selectable<RewardsTable>;
export type StretchGoal = Selectable<StretchGoalsTable>;
export type Pledge = Selectable<PledgesTable>;
export type NewPledge = Insertable<PledgesTable>;
export type PledgeUpdate = Updateable<PledgesTable>;
export type Payout = Selectable<PayoutsTable>;
export type PayoutAttempt = Selectable<PayoutAttemptsTable>;
export type Refund = Selectable<RefundsTable>;
export type LedgerEntry = Selectable<LedgerEntriesTable>;
export type NewLedgerEntry = Insertable<LedgerEntriesTable>;
export type Notification = Selectable<NotificationsTable>;
export type Dispute = Selectable<DisputesTable>;
export type StaffAuditEntry = Selectable<StaffAuditLogTable>;
export type ReconciliationJob = Selectable<ReconciliationJobsTable>;
/** A creator's update (`CampaignUpdate` is already the campaigns table's Updateable). */
export type CreatorUpdate = Selectable<CampaignUpdatesTable>;
export type Survey = Selectable<SurveysTable>;
export type SurveyResponse = Selectable<SurveyResponsesTable>;
