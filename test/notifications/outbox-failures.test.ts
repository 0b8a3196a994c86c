/**
 * The outbox under failing mail: messages that keep failing back off and are parked after too many attempts, a
 * message that cannot be rendered fails alone, and the rest of the outbox is delivered around them. Delivery is
 * marked per message, so a crash mid-drain re-sends at most the message that was in flight.
 */
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { MockActivityEnvironment } from '@temporalio/testing';
import type Stripe from 'stripe';
import { createNotificationActivities } from '../../activities/notifications';
import { AppDatabase } from '../../db/database';
import { loadConfig } from '../../src/config';
import { type MailMessage, type Mailer } from '../../src/notifications/mailer';
import { enqueueNotifications, listParkedNotifications, type NotificationTemplate } from '../../src/notifications/outbox';
import { createTestDatabase, TEST_DATABASE_URL, type TestDatabase } from '../helpers/db';

const MINUTE = 60_000;
const MAX_ATTEMPTS = 10;

let testDb: TestDatabase;
beforeAll(async () => {
  testDb = await createTestDatabase();
});
afterAll(async () => {
  await testDb.drop();
});
beforeEach(async () => {
  await testDb.database.db.deleteFrom('notifications').execute();
});

/** A mailer that refuses every address containing "bounce", and counts what it was asked to send. */
function fakeMailer() {
  const sent: MailMessage[] = [];
  const tried: string[] = [];
  const mailer: Mailer = {
    async send(message) {
      tried.push(message.to);
      if (message.to.includes('bounce')) throw new Error(`550 mailbox unavailable: ${message.to}`);
      sent.push(message);
    },
    close: () => undefined,
  };
  return { mailer, sent, tried };
}

/** A clock the test moves by hand; it starts a second ahead so rows written just now are already due. */
function fakeClock() {
  let nowMs = Date.now() + 1_000;
  return { now: () => new Date(nowMs), advance: (ms: number) => void (nowMs += ms), get ms() { return nowMs; } };
}

function activities(database: AppDatabase, mailer: Mailer, clock: { now: () => Date }) {
  return createNotificationActivities({ database, mailer, config: loadConfig({}), stripe: {} as Stripe }, { now: clock.now });
}

async function user(email: string) {
  return testDb.database.db.insertInto('users').values({ email, name: 'U', password_hash: 'x' }).returning('id').executeTakeFirstOrThrow();
}

/** Five mails to addresses that always bounce, written first; then one that cannot be rendered; then four good ones. */
async function seedOutbox() {
  const suffix = randomBytes(4).toString('hex');
  const bouncing = await Promise.all([0, 1, 2, 3, 4].map((i) => user(`bounce-${i}-${suffix}@example.com`)));
  const good = await Promise.all([0, 1, 2, 3].map((i) => user(`good-${i}-${suffix}@example.com`)));
  const payload = { campaignTitle: 'Lamp', amount: '12.50', currency: 'USD' };
  for (const [i, recipient] of bouncing.entries()) {
    await enqueueNotifications(testDb.database.db, [{ recipientId: recipient.id, template: 'refund_issued', payload, dedupeKey: `bounce-${i}-${suffix}` }]);
  }
  // A template this code does not know (written by a newer release, or a typo): rendering throws.
  await enqueueNotifications(testDb.database.db, [
    { recipientId: good[0]!.id, template: 'no_such_template' as NotificationTemplate, payload, dedupeKey: `bad-template-${suffix}` },
  ]);
  for (const [i, recipient] of good.entries()) {
    await enqueueNotifications(testDb.database.db, [{ recipientId: recipient.id, template: 'refund_issued', payload, dedupeKey: `good-${i}-${suffix}` }]);
  }
}

test('one drain delivers every good mail past bouncing ones and an unrenderable one, each failure recorded on its row', async () => {
  await seedOutbox();
  const { mailer, sent } = fakeMailer();
  const clock = fakeClock();

  expect(await activities(testDb.database, mailer, clock).deliverNotifications({ limit: 10 })).toBe(4);

  expect(sent).toHaveLength(4);
  for (const mail of sent) expect(mail.to).toMatch(/^good-/);
  const rows = await testDb.database.db.selectFrom('notifications').selectAll().orderBy('id').execute();
  const failed = rows.filter((row) => row.sent_at === null);
  expect(failed).toHaveLength(6);
  for (const row of failed) {
    expect(row.attempts).toBe(1);
    expect(row.parked_at).toBeNull();
    expect(row.next_attempt_at.getTime()).toBeGreaterThan(clock.ms);
  }
  expect(failed.find((row) => row.template === 'no_such_template')?.last_error).toMatch(/no_such_template/);
  expect(failed.find((row) => row.template === 'refund_issued')?.last_error).toMatch(/550 mailbox unavailable/);
});

test('mails that keep failing do not stall the outbox: the next drain, right away, delivers the mails behind them', async () => {
  await seedOutbox();
  const { mailer, sent } = fakeMailer();
  const clock = fakeClock();
  const { deliverNotifications } = activities(testDb.database, mailer, clock);

  // The first five in line all bounce.
  expect(await deliverNotifications({ limit: 5 })).toBe(0);
  // They are not due again yet, so the next batch is the ones behind them.
  expect(await deliverNotifications({ limit: 5 })).toBe(4);
  expect(sent).toHaveLength(4);
});

test('a failing mail backs off exponentially, is parked after the last attempt, logged, and never tried again', async () => {
  await seedOutbox();
  const { mailer, tried } = fakeMailer();
  const clock = fakeClock();
  const logged: Array<{ level: string; message: string; meta?: Record<string, unknown> }> = [];
  const logger = {
    log: (level: string, message: string, meta?: Record<string, unknown>) => void logged.push({ level, message, ...(meta ? { meta } : {}) }),
    trace: () => undefined,
    debug: () => undefined,
    info: () => undefined,
    warn: (message: string, meta?: Record<string, unknown>) => void logged.push({ level: 'WARN', message, ...(meta ? { meta } : {}) }),
    error: (message: string, meta?: Record<string, unknown>) => void logged.push({ level: 'ERROR', message, ...(meta ? { meta } : {}) }),
  };
  const env = new MockActivityEnvironment({}, { logger });
  const { deliverNotifications } = activities(testDb.database, mailer, clock);
  const firstBounce = () => testDb.database.db.selectFrom('notifications').selectAll().where('dedupe_key', 'like', 'bounce-0-%').executeTakeFirstOrThrow();

  expect(await env.run(deliverNotifications, { limit: 100 })).toBe(4);
  const delays: number[] = [];
  for (let attempt = 1; attempt < MAX_ATTEMPTS; attempt++) {
    const row = await firstBounce();
    expect(row.attempts).toBe(attempt);
    delays.push(row.next_attempt_at.getTime() - clock.ms);
    // Not due a millisecond early: nothing is tried.
    clock.advance(delays.at(-1)! - 1);
    const before = tried.length;
    expect(await env.run(deliverNotifications, { limit: 100 })).toBe(0);
    expect(tried.length).toBe(before);
    clock.advance(1);
    expect(await env.run(deliverNotifications, { limit: 100 })).toBe(0);
    // The five bouncing mails and the unrenderable one were tried again (the last never reaches the mailer).
    expect(tried.length).toBe(before + 5);
  }
  // Exponential: each wait doubles from a minute, up to two hours.
  expect(delays).toEqual([1, 2, 4, 8, 16, 32, 64, 120, 120].map((minutes) => minutes * MINUTE));

  const parkedRow = await firstBounce();
  expect(parkedRow.attempts).toBe(MAX_ATTEMPTS);
  expect(parkedRow.parked_at).toBeInstanceOf(Date);
  expect(parkedRow.last_error).toMatch(/550 mailbox unavailable/);
  const parked = await listParkedNotifications(testDb.database.db);
  expect(parked).toHaveLength(6);
  expect(parked.map((row) => row.attempts)).toEqual(Array(6).fill(MAX_ATTEMPTS));
  expect(logged.filter((line) => line.level === 'WARN' && /parked/.test(line.message))).toHaveLength(6);

  // Parked mail stays parked: a week later nothing is tried, and a new mail goes straight out.
  clock.advance(7 * 24 * 60 * MINUTE);
  const before = tried.length;
  const late = await user(`late-${randomBytes(4).toString('hex')}@example.com`);
  await enqueueNotifications(testDb.database.db, [
    { recipientId: late.id, template: 'payout_sent', payload: { campaignTitle: 'Lamp', amount: '90.00', currency: 'USD' }, dedupeKey: `late-${late.id}` },
  ]);
  expect(await env.run(deliverNotifications, { limit: 1 })).toBe(1);
  expect(tried.slice(before)).toEqual([expect.stringMatching(/^late-/)]);
});

test('a crash mid-drain re-sends at most the mail in flight: the ones before it stay marked sent', async () => {
  // A pool of its own, named, so the test can end exactly its sessions (Postgres going away mid-drain).
  const applicationName = `outbox-crash-${randomBytes(4).toString('hex')}`;
  const database = new AppDatabase({ connectionString: TEST_DATABASE_URL, schema: testDb.schema, poolSize: 2, applicationName });
  const admin = testDb.database.db;
  try {
    const recipients = await Promise.all([0, 1, 2, 3].map((i) => user(`crash-${i}-${randomBytes(4).toString('hex')}@example.com`)));
    for (const [i, recipient] of recipients.entries()) {
      await enqueueNotifications(admin, [{ recipientId: recipient.id, template: 'payout_sent', payload: { campaignTitle: 'Lamp', amount: '90.00', currency: 'USD' }, dedupeKey: `crash-${i}-${recipient.id}` }]);
    }
    const delivered: string[] = [];
    let crashOnSend: number | undefined = 3;
    const mailer: Mailer = {
      async send(message) {
        delivered.push(message.to);
        // The third mail goes out, and then the worker's database sessions die before it is marked sent.
        if (delivered.length === crashOnSend) {
          crashOnSend = undefined;
          await sql`select pg_terminate_backend(pid) from pg_stat_activity where application_name = ${applicationName}`.execute(admin);
        }
      },
      close: () => undefined,
    };
    const clock = fakeClock();
    await expect(activities(database, mailer, clock).deliverNotifications({ limit: 10 })).rejects.toThrow();
    // The activity is retried (a new attempt, the pool reconnects) and finishes the outbox.
    await activities(database, mailer, clock).deliverNotifications({ limit: 10 });

    const counts = new Map<string, number>();
    for (const to of delivered) counts.set(to, (counts.get(to) ?? 0) + 1);
    const duplicates = [...counts.values()].filter((count) => count > 1);
    expect(counts.size).toBe(4);
    // Only the mail in flight when the crash came is sent twice.
    expect(duplicates).toEqual([2]);
    const unsent = await admin.selectFrom('notifications').select('id').where('sent_at', 'is', null).execute();
    expect(unsent).toHaveLength(0);
  } finally {
    await database.close();
  }
});
