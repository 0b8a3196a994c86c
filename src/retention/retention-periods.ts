/**
 * How long the platform keeps records that only serve a short-lived purpose (issue #17, data hygiene). Each period
 * outlasts everything that still reads the records (test/unit/retention-periods.test.ts holds them to it); past it
 * they are deleted, or for Stripe events reduced to what de-duplicates replays, by the data-retention workflow.
 * The money records (ledger, pledges, refunds, payouts, disputes) and the staff audit log are never purged here;
 * only a pledge's client address is cleared from it.
 */

const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;

/**
 * A webhook event's payload (customer emails, billing details, card metadata) is dropped 30 days after it arrived;
 * its row (id, type, when received and processed) stays for good, because the id is what makes a replayed delivery
 * a no-op. Nothing acts on the stored copy (handlers act on the object as Stripe has it now), Stripe stops retrying a
 * delivery after 3 days, and 30 days is as far back as Stripe's own events list goes: after that the copy is only
 * personal data at rest.
 */
export const STRIPE_EVENT_PAYLOAD_RETENTION_MS = 30 * DAY_MS;

/**
 * Sign-in attempts count against the limits for 15 minutes (`LOGIN_WINDOW_MS`); a day more leaves time to look
 * into an attack after the fact, and then the emails and addresses go.
 */
export const LOGIN_ATTEMPT_RETENTION_MS = DAY_MS;

/**
 * The API promises what Stripe promises for an `Idempotency-Key`: the same key replays the first answer for at
 * least 24 hours. Counted from when the key was first used, as Stripe does; a claim still unanswered by then
 * belongs to a request that died long ago (the in-progress lease is 5 minutes).
 */
export const IDEMPOTENCY_KEY_RETENTION_MS = 24 * HOUR_MS;

/**
 * A sign-in token that expired or was revoked is refused at once (`findSession`); its row is kept one more day,
 * so a "why was I signed out" question can still be answered, then deleted.
 */
export const DEAD_AUTH_TOKEN_RETENTION_MS = DAY_MS;

/**
 * A notification sent, or parked after its last failed attempt, is kept 90 days: support can tell a backer what
 * was mailed and when, ops can still look into a parked one after an incident. Messages still waiting to be
 * delivered are never purged. Their dedupe keys go with them, which is safe because every message is queued by a
 * state change that happens once (a pledge placed, a campaign decided, a dispute opened or closed), not re-queued
 * months later.
 */
export const FINISHED_NOTIFICATION_RETENTION_MS = 90 * DAY_MS;

/**
 * Velocity events (an account, a client address and a card fingerprint per pledge, card change or sign-up attempt)
 * count against the limits for a day at most (the decline block, DECLINE_BLOCK_PERIOD_MS; the ceilings an hour).
 * They are kept 7 days: long enough to look into a card-testing run found after a weekend, or matched to the early
 * fraud warnings card issuers send within days, then the addresses and fingerprints go.
 */
export const VELOCITY_EVENT_RETENTION_MS = 7 * DAY_MS;

/**
 * The client address a pledge was placed from (sent to Stripe Radar, which keeps its own copy) is cleared 120 days
 * after the pledge's money was settled: the campaign's outcome (funded, failed or cancelled), or the pledge's
 * capture if that came later (a card retried in the grace window). Card networks take fraud chargebacks for 120
 * days after the charge, and the address is the evidence support gives Stripe against one (`customer_purchase_ip`);
 * after that it only says where a backer was. A pledge still being placed keeps it (a retry must send the same request).
 */
export const PLEDGE_IP_RETENTION_MS = 120 * DAY_MS;

/**
 * A link to confirm an email address stops working when used, replaced or a day old; its row (only an HMAC of the
 * token, and when) is kept one more day, as for sign-in tokens, then deleted. The resend limit counts the last hour.
 */
export const DEAD_VERIFICATION_LINK_RETENTION_MS = DAY_MS;
