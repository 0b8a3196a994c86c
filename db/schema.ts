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
  | 'transfer_reversal';

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
}

export interface AuthTokensTable {
  id: Generated<string>;
  user_id: string;
  token_hash: string;
  created_at: CreatedAt;
  expires_at: Timestamp;
  revoked_at: Timestamp | null;
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
}

export interface PayoutsTable {
  id: Generated<string>;
  campaign_id: string;
  destination_account_id: string;
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
  /** The creator's share to take back, decided when the refund is recorded after the payout. */
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
  created_at: CreatedAt;
}

export interface StripeEventsTable {
  id: string;
  type: string;
  payload: Json;
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
