/**
 * The outbox delivery activity against a real SMTP server (the `smtp-server` package, in process): queued
 * notifications arrive as mail and are marked sent once; a failing server leaves them queued with the error.
 */
import { type AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { createNotificationActivities } from '../../activities/notifications';
import { loadConfig } from '../../src/config';
import { createMailer } from '../../src/notifications/mailer';
import { enqueueNotifications } from '../../src/notifications/outbox';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import type Stripe from 'stripe';

interface Received {
  to: string[];
  body: string;
}

let testDb: TestDatabase;
let server: SMTPServer;
let port: number;
const received: Received[] = [];
let reject = false;

beforeAll(async () => {
  testDb = await createTestDatabase();
  server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    onRcptTo(address, _session, callback) {
      callback(reject ? new Error('mailbox unavailable') : undefined);
    },
    onData(stream, session, callback) {
      let body = '';
      stream.on('data', (chunk: Buffer) => (body += chunk.toString()));
      stream.on('end', () => {
        received.push({ to: session.envelope.rcptTo.map((r) => r.address), body });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.server.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await testDb.drop();
});

function activities() {
  const config = loadConfig({ SMTP_URL: `smtp://127.0.0.1:${port}`, MAIL_FROM: 'Crowdfund <no-reply@crowdfund.test>' });
  const mailer = createMailer(config.mail);
  return { ...createNotificationActivities({ database: testDb.database, mailer, config, stripe: {} as Stripe }), mailer };
}

test('queued notifications arrive over SMTP and are marked sent exactly once', async () => {
  const db = testDb.database.db;
  const user = await db.insertInto('users').values({ email: 'backer@example.com', name: 'B', password_hash: 'x' }).returningAll().executeTakeFirstOrThrow();
  await enqueueNotifications(db, [
    { recipientId: user.id, template: 'refund_issued', payload: { campaignTitle: 'Lamp', amount: '12.50', currency: 'USD' }, dedupeKey: 'refund-1-issued' },
    { recipientId: user.id, template: 'refund_issued', payload: { campaignTitle: 'Lamp', amount: '12.50', currency: 'USD' }, dedupeKey: 'refund-1-issued' },
  ]);
  const { deliverNotifications, mailer } = activities();
  try {
    expect(await deliverNotifications({ limit: 10 })).toBe(1);
    expect(await deliverNotifications({ limit: 10 })).toBe(0);
  } finally {
    mailer.close();
  }
  expect(received).toHaveLength(1);
  expect(received[0]!.to).toEqual(['backer@example.com']);
  expect(received[0]!.body).toContain('Subject: Refund for your pledge to Lamp');
  expect(received[0]!.body).toContain('We refunded 12.50 USD to your card.');
  const row = await db.selectFrom('notifications').selectAll().executeTakeFirstOrThrow();
  expect(row.sent_at).toBeInstanceOf(Date);
  expect(row.attempts).toBe(1);
});

test('a refused delivery stays queued with its error, and is sent on a later round', async () => {
  const db = testDb.database.db;
  const user = await db.insertInto('users').values({ email: 'creator@example.com', name: 'C', password_hash: 'x' }).returningAll().executeTakeFirstOrThrow();
  await enqueueNotifications(db, [{ recipientId: user.id, template: 'payout_sent', payload: { campaignTitle: 'Lamp', amount: '90.00', currency: 'USD' }, dedupeKey: 'payout-1-sent' }]);
  const { deliverNotifications, mailer } = activities();
  try {
    reject = true;
    expect(await deliverNotifications({ limit: 10 })).toBe(0);
    const failed = await db.selectFrom('notifications').selectAll().where('dedupe_key', '=', 'payout-1-sent').executeTakeFirstOrThrow();
    expect(failed).toMatchObject({ sent_at: null, attempts: 1 });
    expect(failed.last_error).toMatch(/mailbox unavailable/);
    reject = false;
    // A later round: the message's back-off (test/notifications/outbox-failures.test.ts) has run out.
    await db.updateTable('notifications').set({ next_attempt_at: new Date() }).where('id', '=', failed.id).execute();
    expect(await deliverNotifications({ limit: 10 })).toBe(1);
  } finally {
    mailer.close();
  }
  expect(received.some((mail) => mail.to.includes('creator@example.com'))).toBe(true);
});
