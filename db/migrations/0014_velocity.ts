/**
 * Velocity limits against card testing and scripted sign-ups (issue #17): one row per attempt to place a pledge,
 * to give a pledge a new card, or to sign up, with who (user), from where (client address) and with which card
 * (the card's fingerprint, or the PaymentMethod id when Stripe gives none), and a weight: a decline, or an attempt
 * not yet answered, weighs more than a success (src/abuse/velocity.ts). Also the address a pledge was placed from,
 * sent to Stripe Radar with the pledge's request (metadata), kept on the pledge so a retry sends the same request.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('velocity_events')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('action', 'text', (c) => c.notNull().check(sql`action in ('pledge', 'payment_method', 'signup')`))
    // Null for a sign-up (no account yet); an account's attempts go with it.
    .addColumn('user_id', 'uuid', (c) => c.references('users.id').onDelete('cascade'))
    .addColumn('ip', 'text')
    .addColumn('card', 'text')
    .addColumn('outcome', 'text', (c) => c.notNull().check(sql`outcome in ('pending', 'succeeded', 'declined', 'unanswered', 'not_asked')`))
    .addColumn('weight', 'smallint', (c) => c.notNull().check(sql`weight >= 0`))
    .addColumn('occurred_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('velocity_events_user_idx').on('velocity_events').columns(['user_id', 'occurred_at']).execute();
  await db.schema.createIndex('velocity_events_ip_idx').on('velocity_events').columns(['ip', 'occurred_at']).execute();
  await db.schema.createIndex('velocity_events_card_idx').on('velocity_events').columns(['card', 'occurred_at']).execute();
  await db.schema.alterTable('pledges').addColumn('placed_from_ip', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('pledges').dropColumn('placed_from_ip').execute();
  await db.schema.dropTable('velocity_events').execute();
}
