/**
 * Backer surveys (issue #21). After a campaign is funded its creator asks each reward's backers what delivery needs
 * (a shipping address, a size, a colour): one survey per reward, and one for the backers who chose no reward
 * (`reward_id` null; `nulls not distinct` makes that one unique too). The questions are kept as the creator wrote
 * them (jsonb, validated by src/surveys/questions.ts); a survey is a draft (editable), then sent (answerable), then
 * locked (answers frozen for fulfilment). One response per pledge, changed in place until the survey is locked.
 * A staff member's download of the backer report (emails, addresses) is a staff action: `backer_report.exported`.
 */
import { type Kysely, sql } from 'kysely';

const now = sql`now()`;

const AUDIT_ACTIONS_BEFORE = [
  'refund.requested',
  'settlement.retried',
  'campaign.cancelled',
  'role.granted',
  'role.revoked',
  'dispute.evidence_submitted',
  'dispute.accepted',
  'commission.overridden',
  'totp.enrolled',
  'totp.reset',
];
const AUDIT_ACTIONS_AFTER = [...AUDIT_ACTIONS_BEFORE, 'backer_report.exported'];

async function allowAuditActions(db: Kysely<any>, actions: string[]): Promise<void> {
  await sql`alter table staff_audit_log drop constraint staff_audit_action_check`.execute(db);
  await sql`alter table staff_audit_log add constraint staff_audit_action_check check (${sql.raw(`action in (${actions.map((action) => `'${action}'`).join(', ')})`)})`.execute(db);
}

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('surveys')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('campaign_id', 'uuid', (c) => c.notNull().references('campaigns.id'))
    .addColumn('reward_id', 'uuid', (c) => c.references('rewards.id'))
    // [{ id, kind: 'text' | 'choice' | 'shipping_address', prompt, options?, required }]
    .addColumn('questions', 'jsonb', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('draft'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('sent_at', 'timestamptz')
    .addColumn('locked_at', 'timestamptz')
    .addCheckConstraint('surveys_status_check', sql`status in ('draft', 'sent', 'locked')`)
    .addCheckConstraint('surveys_questions_check', sql`jsonb_typeof(questions) = 'array'`)
    // Each step's time is there exactly when the survey has taken it.
    .addCheckConstraint('surveys_sent_at_check', sql`(status = 'draft') = (sent_at is null)`)
    .addCheckConstraint('surveys_locked_at_check', sql`(status = 'locked') = (locked_at is not null)`)
    .addUniqueConstraint('surveys_one_per_reward', ['campaign_id', 'reward_id'], (c) => c.nullsNotDistinct())
    .execute();

  await db.schema
    .createTable('survey_responses')
    .addColumn('survey_id', 'uuid', (c) => c.notNull().references('surveys.id'))
    .addColumn('pledge_id', 'uuid', (c) => c.notNull().references('pledges.id'))
    .addColumn('backer_id', 'uuid', (c) => c.notNull().references('users.id'))
    // { [questionId]: string | { name, line1, line2?, city, region?, postalCode?, country, phone? } }
    .addColumn('answers', 'jsonb', (c) => c.notNull())
    .addColumn('answered_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addPrimaryKeyConstraint('survey_responses_pkey', ['survey_id', 'pledge_id'])
    .addCheckConstraint('survey_responses_answers_check', sql`jsonb_typeof(answers) = 'object'`)
    .execute();
  // A backer's own answers, and the foreign key's lookups when pledges are purged.
  await db.schema.createIndex('survey_responses_pledge_idx').on('survey_responses').column('pledge_id').execute();
  await allowAuditActions(db, AUDIT_ACTIONS_AFTER);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`delete from staff_audit_log where action = 'backer_report.exported'`.execute(db);
  await allowAuditActions(db, AUDIT_ACTIONS_BEFORE);
  await db.schema.dropTable('survey_responses').execute();
  await db.schema.dropTable('surveys').execute();
}
