/**
 * Each retention period outlasts what still reads the records it purges: raising a limit's window (or shortening a
 * period) past the other fails here rather than silently weakening a limit or a promise.
 */
import { IN_PROGRESS_LEASE_MS } from '../../src/api/idempotency';
import { LOGIN_WINDOW_MS } from '../../src/auth/login-throttle';
import { CARD_ATTEMPT_WINDOW_MS, DECLINE_BLOCK_PERIOD_MS, SIGNUP_WINDOW_MS } from '../../src/abuse/velocity-limits';
import { VERIFICATION_EMAIL_WINDOW_MS } from '../../src/auth/email-verification';
import {
  DEAD_VERIFICATION_LINK_RETENTION_MS,
  IDEMPOTENCY_KEY_RETENTION_MS,
  LOGIN_ATTEMPT_RETENTION_MS,
  PLEDGE_IP_RETENTION_MS,
  STRIPE_EVENT_PAYLOAD_RETENTION_MS,
  VELOCITY_EVENT_RETENTION_MS,
} from '../../src/retention/retention-periods';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

test('sign-in attempts are kept for longer than the sign-in limits count them', () => {
  expect(LOGIN_ATTEMPT_RETENTION_MS).toBeGreaterThan(LOGIN_WINDOW_MS);
});

test('an Idempotency-Key replays for at least 24 hours, as Stripe promises, and outlives its in-progress lease', () => {
  expect(IDEMPOTENCY_KEY_RETENTION_MS).toBeGreaterThanOrEqual(24 * HOUR);
  expect(IDEMPOTENCY_KEY_RETENTION_MS).toBeGreaterThan(IN_PROGRESS_LEASE_MS);
});

test('a Stripe event payload is kept past Stripe’s 3 days of redelivery', () => {
  expect(STRIPE_EVENT_PAYLOAD_RETENTION_MS).toBeGreaterThan(3 * DAY);
});

test('velocity events are kept for longer than any velocity limit counts them', () => {
  for (const window of [CARD_ATTEMPT_WINDOW_MS, SIGNUP_WINDOW_MS, DECLINE_BLOCK_PERIOD_MS]) expect(VELOCITY_EVENT_RETENTION_MS).toBeGreaterThan(window);
});

test('a pledge’s client address outlasts the 120 days card networks take fraud chargebacks in', () => {
  expect(PLEDGE_IP_RETENTION_MS).toBeGreaterThanOrEqual(120 * DAY);
});

test('a dead verification link is kept for longer than the resend limit counts links', () => {
  expect(DEAD_VERIFICATION_LINK_RETENTION_MS).toBeGreaterThan(VERIFICATION_EMAIL_WINDOW_MS);
});
