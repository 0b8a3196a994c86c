/**
 * The data-retention activities purge exactly what is past its period and nothing else: rows at the boundary and
 * just inside it stay, a Stripe event keeps its id row (and a replayed delivery of it stays a no-op) when its
 * payload goes, messages still to be delivered are never purged, a pledge keeps its row when its client address is
 * cleared (and keeps the address while it is being placed), and a backlog goes in bounded batches.
 */
import { sql } from 'kysely';
import request from 'supertest';
import { type RetentionResult, createRetentionActivities } from '../../activities/retention';
import {
  DEAD_AUTH_TOKEN_RETENTION_MS,
  DEAD_VERIFICATION_LINK_RETENTION_MS,
  FINISHED_NOTIFICATION_RETENTION_MS,
  IDEMPOTENCY_KEY_RETENTION_MS,
  LOGIN_ATTEMPT_RETENTION_MS,
  PLEDGE_IP_RETENTION_MS,
  STRIPE_EVENT_PAYLOAD_RETENTION_MS,
  VELOCITY_EVENT_RETENTION_MS,
} from '../../src/retention/retention-periods';
import { campaignRow, createTestApi, tokenUser, type TestApi } from '../helpers/api';
import { startTestStripe, type TestStripe } from '../helpers/stripe';

const SECRET = 'whsec_test_retention';
const SECOND = 1_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

let api: TestApi;
let stripe: TestStripe;
let retention: ReturnType<typeof createRetentionActivities>;

beforeAll(async () => {
  stripe = await startTestStripe();
  api = await createTestApi({ STRIPE_WEBHOOK_SECRET: SECRET }, { stripe: stripe.stripe });
  retention = createRetentionActivities({ database: api.testDb.database });
});
afterAll(async () => {
  await api.close();
  await stripe.close();
});

const db = () => api.context.database.db;
const at = (ms: number) => new Date(ms);
/** One round as the workflow runs it, counting back from `asOf`. */
const round = (asOf: number, batchSize = 1_000, maxBatches = 20) => ({ asOf: at(asOf).toISOString(), batchSize, maxBatches });

test('Stripe events: the payload goes after 30 days, the id row stays, and a replayed delivery of it is still a no-op', async () => {
  const now = Date.now();
  const cutoff = now - STRIPE_EVENT_PAYLOAD_RETENTION_MS;
  const creator = await tokenUser(api, 'Creator');
  const account = await stripe.stripe.accounts.create({ type: 'express', country: 'US' });
  await db().updateTable('users').set({ stripe_account_id: account.id }).where('id', '=', creator.id).execute();
  const link = await stripe.stripe.accountLinks.create({ account: account.id, type: 'account_onboarding', refresh_url: 'http://r', return_url: 'http://ok' });
  await fetch(link.url);
  const event = (await stripe.stripe.events.list({ type: 'account.updated', limit: 1 })).data[0]!;
  const payload = JSON.stringify(event);
  const deliver = () =>
    request(api.app)
      .post('/api/webhooks/stripe')
      .set('Stripe-Signature', stripe.stripe.webhooks.generateTestHeaderString({ payload, secret: SECRET }))
      .set('Content-Type', 'application/json')
      .send(payload)
      .expect(200);
  expect((await deliver()).body).toEqual({ received: true });

  // The delivered event is a second past retention; others at the boundary, just inside it, and unprocessed.
  // (received_at is written once by Postgres: the app's types refuse to update it, as they should.)
  await sql`update stripe_events set received_at = ${at(cutoff - SECOND)} where id = ${event.id}`.execute(db());
  const others: Array<{ id: string; received_at: Date; processed_at: Date | null }> = [
    { id: 'evt_retention_boundary', received_at: at(cutoff), processed_at: at(cutoff) },
    { id: 'evt_retention_inside', received_at: at(cutoff + SECOND), processed_at: at(cutoff + SECOND) },
    { id: 'evt_retention_unprocessed_old', received_at: at(cutoff - DAY), processed_at: null },
  ];
  await db()
    .insertInto('stripe_events')
    .values(others.map((row) => ({ ...row, type: 'customer.updated', payload: JSON.stringify({ id: row.id, email: 'backer@example.com' }) })))
    .execute();

  expect(await retention.dropStripeEventPayloads(round(now))).toEqual({ rows: 2, more: false });
  const rows = await db().selectFrom('stripe_events').selectAll().where('id', 'in', [event.id, ...others.map((row) => row.id)]).orderBy('id').execute();
  expect(Object.fromEntries(rows.map((row) => [row.id, row.payload === null ? 'dropped' : 'kept']))).toEqual({
    [event.id]: 'dropped',
    evt_retention_boundary: 'kept',
    evt_retention_inside: 'kept',
    // Stripe gave up redelivering it long ago; its payload goes too, its row tells ops it was never processed.
    evt_retention_unprocessed_old: 'dropped',
  });
  const purged = rows.find((row) => row.id === event.id)!;
  expect(purged).toMatchObject({ type: 'account.updated', received_at: at(cutoff - SECOND) });
  expect(purged.processed_at).toBeInstanceOf(Date);

  // A replay of the purged event is recognised by its id and not acted on again.
  await db().updateTable('users').set({ payouts_enabled: false, charges_enabled: false }).where('id', '=', creator.id).execute();
  expect((await deliver()).body).toEqual({ received: true, duplicate: true });
  expect(await db().selectFrom('users').select(['payouts_enabled', 'charges_enabled']).where('id', '=', creator.id).executeTakeFirstOrThrow()).toEqual({
    payouts_enabled: false,
    charges_enabled: false,
  });
  expect(await db().selectFrom('stripe_events').select('payload').where('id', '=', event.id).executeTakeFirstOrThrow()).toEqual({ payload: null });

  expect(await retention.dropStripeEventPayloads(round(now))).toEqual({ rows: 0, more: false });
});

test('sign-in attempts go after a day', async () => {
  const now = Date.now();
  const cutoff = now - LOGIN_ATTEMPT_RETENTION_MS;
  const times = { past: cutoff - SECOND, boundary: cutoff, inside: cutoff + SECOND, recent: now - 60 * SECOND };
  await db()
    .insertInto('login_attempts')
    .values(Object.entries(times).map(([name, time]) => ({ email: `${name}@example.com`, ip: '192.0.2.1', succeeded: false, attempted_at: at(time) })))
    .execute();

  expect(await retention.purgeLoginAttempts(round(now))).toEqual({ rows: 1, more: false });
  const left = await db().selectFrom('login_attempts').select('email').orderBy('email').execute();
  expect(left.map((row) => row.email)).toEqual(['boundary@example.com', 'inside@example.com', 'recent@example.com']);
});

test('a backlog goes in bounded batches: a call stops after its batches and says more is left', async () => {
  await db().deleteFrom('login_attempts').execute();
  const now = Date.now();
  const old = at(now - LOGIN_ATTEMPT_RETENTION_MS - DAY);
  await db()
    .insertInto('login_attempts')
    .values(Array.from({ length: 25 }, (_, i) => ({ email: `backlog${i}@example.com`, ip: '192.0.2.2', succeeded: false, attempted_at: old })))
    .execute();
  const backlog = () => db().selectFrom('login_attempts').select((eb) => eb.fn.countAll<number>().as('n')).where('ip', '=', '192.0.2.2').executeTakeFirstOrThrow();

  const calls: RetentionResult[] = [await retention.purgeLoginAttempts(round(now, 10, 2))];
  expect(calls[0]).toEqual({ rows: 20, more: true });
  expect(Number((await backlog()).n)).toBe(5);
  calls.push(await retention.purgeLoginAttempts(round(now, 10, 2)));
  expect(calls[1]).toEqual({ rows: 5, more: false });
  expect(Number((await backlog()).n)).toBe(0);
  // A full last batch may have been the end: the next call finds nothing and says so.
  await db()
    .insertInto('login_attempts')
    .values(Array.from({ length: 10 }, (_, i) => ({ email: `exact${i}@example.com`, ip: '192.0.2.2', succeeded: false, attempted_at: old })))
    .execute();
  expect(await retention.purgeLoginAttempts(round(now, 10, 1))).toEqual({ rows: 10, more: true });
  expect(await retention.purgeLoginAttempts(round(now, 10, 1))).toEqual({ rows: 0, more: false });
});

test('idempotency keys go 24 hours after first use, answered or not; younger ones still replay', async () => {
  const now = Date.now();
  const cutoff = now - IDEMPOTENCY_KEY_RETENTION_MS;
  const user = await tokenUser(api);
  const key = (name: string, createdAt: number, answered: boolean) => ({
    user_id: user.id,
    key: name,
    method: 'POST',
    path: '/api/campaigns/x/pledges',
    request_hash: 'h',
    created_at: at(createdAt),
    ...(answered ? { response_status: 201, response_body: JSON.stringify({ ok: name }), completed_at: at(createdAt + SECOND) } : {}),
  });
  await db()
    .insertInto('idempotency_keys')
    .values([
      key('past-answered', cutoff - SECOND, true),
      key('past-unanswered', cutoff - SECOND, false),
      key('boundary', cutoff, true),
      key('inside', cutoff + SECOND, true),
      key('recent', now - 60 * SECOND, false),
    ])
    .execute();

  expect(await retention.purgeIdempotencyKeys(round(now))).toEqual({ rows: 2, more: false });
  const left = await db().selectFrom('idempotency_keys').select(['key', 'response_body']).where('user_id', '=', user.id).orderBy('key').execute();
  expect(left).toEqual([
    { key: 'boundary', response_body: { ok: 'boundary' } },
    { key: 'inside', response_body: { ok: 'inside' } },
    { key: 'recent', response_body: null },
  ]);
});

test('sign-in tokens go a day after they expired or were revoked; live ones keep working', async () => {
  const now = Date.now();
  const cutoff = now - DEAD_AUTH_TOKEN_RETENTION_MS;
  const live = await tokenUser(api);
  const token = (name: string, expiresAt: number, revokedAt: number | null = null) => ({
    user_id: live.id,
    token_hash: name,
    created_at: at(Math.min(expiresAt, revokedAt ?? expiresAt) - DAY),
    expires_at: at(expiresAt),
    revoked_at: revokedAt === null ? null : at(revokedAt),
  });
  await db()
    .insertInto('auth_tokens')
    .values([
      token('expired-past', cutoff - SECOND),
      token('revoked-past', now + 29 * DAY, cutoff - SECOND),
      token('expired-boundary', cutoff),
      token('expired-inside', cutoff + SECOND),
      token('revoked-inside', now + 29 * DAY, cutoff + SECOND),
      token('expired-recently', now - SECOND),
    ])
    .execute();

  expect(await retention.purgeDeadAuthTokens(round(now))).toEqual({ rows: 2, more: false });
  const left = await db().selectFrom('auth_tokens').select('token_hash').where('user_id', '=', live.id).execute();
  expect(left.map((row) => row.token_hash).filter((hash) => /^(expired|revoked)-/.test(hash)).sort()).toEqual(['expired-boundary', 'expired-inside', 'expired-recently', 'revoked-inside']);
  // And the user's live token (issued for a day) with them: it still signs them in.
  expect(left).toHaveLength(5);
  await request(api.app).get('/api/me/pledges').set(live.auth).expect(200);
});

test('notifications go 90 days after they were sent or parked; those still to be delivered never do', async () => {
  const now = Date.now();
  const cutoff = now - FINISHED_NOTIFICATION_RETENTION_MS;
  const recipient = await tokenUser(api);
  const notification = (name: string, times: { created: number; sent?: number; parked?: number }) => ({
    recipient_id: recipient.id,
    template: 'pledge_receipt',
    payload: JSON.stringify({ name }),
    dedupe_key: `retention-${name}`,
    created_at: at(times.created),
    next_attempt_at: at(times.created),
    sent_at: times.sent === undefined ? null : at(times.sent),
    parked_at: times.parked === undefined ? null : at(times.parked),
  });
  await db()
    .insertInto('notifications')
    .values([
      notification('sent-past', { created: cutoff - DAY, sent: cutoff - SECOND }),
      notification('parked-past', { created: cutoff - DAY, parked: cutoff - SECOND }),
      notification('sent-boundary', { created: cutoff - DAY, sent: cutoff }),
      notification('sent-inside', { created: cutoff - DAY, sent: cutoff + SECOND }),
      // Parked recently after months of a failing mailbox: counted from when it was parked, not queued.
      notification('parked-inside', { created: cutoff - 30 * DAY, parked: cutoff + SECOND }),
      notification('waiting-ancient', { created: cutoff - 365 * DAY }),
    ])
    .execute();

  expect(await retention.purgeFinishedNotifications(round(now))).toEqual({ rows: 2, more: false });
  const left = await db().selectFrom('notifications').select('dedupe_key').where('recipient_id', '=', recipient.id).orderBy('dedupe_key').execute();
  expect(left.map((row) => row.dedupe_key)).toEqual(['retention-parked-inside', 'retention-sent-boundary', 'retention-sent-inside', 'retention-waiting-ancient']);
});

test('velocity events go after 7 days, whatever their outcome', async () => {
  const now = Date.now();
  const cutoff = now - VELOCITY_EVENT_RETENTION_MS;
  const backer = await tokenUser(api);
  const times = { past: cutoff - SECOND, boundary: cutoff, inside: cutoff + SECOND, 'day-old decline': now - DAY + SECOND };
  await db()
    .insertInto('velocity_events')
    .values(Object.entries(times).map(([name, time]) => ({ action: 'pledge' as const, user_id: backer.id, ip: '192.0.2.30', card: `fp:${name}`, outcome: 'declined' as const, weight: 3, occurred_at: at(time) })))
    .execute();

  expect(await retention.purgeVelocityEvents(round(now))).toEqual({ rows: 1, more: false });
  const left = await db().selectFrom('velocity_events').select('card').where('user_id', '=', backer.id).orderBy('card').execute();
  expect(left.map((row) => row.card)).toEqual(['fp:boundary', 'fp:day-old decline', 'fp:inside']);
});

test('a pledge’s client address is cleared 120 days after its money settled; pledges still being placed keep theirs', async () => {
  const now = Date.now();
  const cutoff = now - PLEDGE_IP_RETENTION_MS;
  const campaign = async (status: 'funded' | 'failed' | 'cancelled' | 'active', outcomeAt?: number) => {
    const row = await campaignRow(api, { status });
    const column = status === 'funded' ? 'funded_at' : status === 'failed' ? 'failed_at' : status === 'cancelled' ? 'cancelled_at' : undefined;
    if (column && outcomeAt !== undefined) await db().updateTable('campaigns').set({ [column]: at(outcomeAt) }).where('id', '=', row.id).execute();
    return row.id;
  };
  const pledge = async (name: string, campaignId: string, status: 'captured' | 'released' | 'cancelled' | 'pending' | 'authorized', capturedAt?: number) => {
    const backer = await tokenUser(api);
    const captured = status === 'captured' ? { amount_captured: 5_000, captured_at: at(capturedAt ?? now) } : {};
    await db()
      .insertInto('pledges')
      .values({ campaign_id: campaignId, backer_id: backer.id, amount: 5_000, currency: 'USD', status, placed_from_ip: `ip-${name}`, ...captured })
      .execute();
  };
  const fundedLongAgo = await campaign('funded', cutoff - SECOND);
  await pledge('captured with the outcome', fundedLongAgo, 'captured', cutoff - 3 * DAY);
  await pledge('captured later, in the grace window', fundedLongAgo, 'captured', cutoff + SECOND);
  await pledge('still being placed', fundedLongAgo, 'pending');
  await pledge('funded at the boundary', await campaign('funded', cutoff), 'captured', cutoff - DAY);
  await pledge('failed long ago', await campaign('failed', cutoff - DAY), 'released');
  await pledge('cancelled long ago', await campaign('cancelled', cutoff - DAY), 'cancelled');
  await pledge('campaign still running', await campaign('active'), 'authorized');

  expect(await retention.clearPledgeIps(round(now))).toEqual({ rows: 3, more: false });
  const kept = await db().selectFrom('pledges').select('placed_from_ip').where('placed_from_ip', 'like', 'ip-%').orderBy('placed_from_ip').execute();
  expect(kept.map((row) => row.placed_from_ip)).toEqual(['ip-campaign still running', 'ip-captured later, in the grace window', 'ip-funded at the boundary', 'ip-still being placed']);
  expect(await retention.clearPledgeIps(round(now))).toEqual({ rows: 0, more: false });
});

test('email verification links go a day after they were used, replaced or expired; live ones keep working', async () => {
  const now = Date.now();
  const cutoff = now - DEAD_VERIFICATION_LINK_RETENTION_MS;
  const user = await tokenUser(api);
  const link = (name: string, ends: { expires: number; used?: number; revoked?: number }) => ({
    user_id: user.id,
    token_hash: `link-${name}`,
    created_at: at(Math.min(ends.expires, ends.used ?? Infinity, ends.revoked ?? Infinity) - HOUR),
    expires_at: at(ends.expires),
    used_at: ends.used === undefined ? null : at(ends.used),
    revoked_at: ends.revoked === undefined ? null : at(ends.revoked),
  });
  await db()
    .insertInto('email_verifications')
    .values([
      link('expired-past', { expires: cutoff - SECOND }),
      link('used-past', { expires: now + HOUR, used: cutoff - SECOND }),
      link('revoked-past', { expires: now + HOUR, revoked: cutoff - SECOND }),
      link('expired-boundary', { expires: cutoff }),
      link('used-inside', { expires: now + HOUR, used: cutoff + SECOND }),
      link('live', { expires: now + HOUR }),
    ])
    .execute();

  expect(await retention.purgeDeadVerificationLinks(round(now))).toEqual({ rows: 3, more: false });
  const left = await db().selectFrom('email_verifications').select('token_hash').where('user_id', '=', user.id).orderBy('token_hash').execute();
  expect(left.map((row) => row.token_hash)).toEqual(['link-expired-boundary', 'link-live', 'link-used-inside']);
});
