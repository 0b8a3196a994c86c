/**
 * Fault drill: Stripe fails while two campaigns settle and one pays out. Every fault kind the stand-in has (500s,
 * 429s, timeouts, connection resets, and responses lost after Stripe applied the request) fires at random on every
 * Stripe path, on top of a few aimed at the requests that move money. Every pledge must still be settled exactly
 * once, the creator paid exactly once, and both campaigns reconcile to the minor unit.
 */
import { createPledgeSettlementActivities } from '../../activities/pledge-settlement';
import { type Fault } from '@crowdfund/stripe-standin';
import { reconcileCampaign } from '../../src/reconciliation/reconcile';
import { createCampaign, createUser, days, placeMany, placePledge, publishCampaign } from '../helpers/campaign-fixtures';
import { createTestPlatform, type TestPlatform } from '../helpers/platform';
import { auditPayout, auditPledges, collectedNothing, observed } from '../helpers/settlement-audit';
import { expectSettledOnce } from './expect-settled-once';

/** The platform's Stripe client gives up on a request after this long... */
const CLIENT_TIMEOUT_MS = 750;
/** ...and the stand-in's latency fault holds a request longer, then applies it to a client that has gone. */
const TIMEOUT_LATENCY_MS = 1_500;
/** The first request and the platform's Stripe client's retries (`maxNetworkRetries: 3`). */
const CLIENT_TRIES = 4;
/** A fifth of Stripe requests fail, in equal shares of each kind. */
const FAULT_RATE = 0.2;
const FAULT_KINDS: Array<Fault['kind']> = ['500', '429', 'latency', 'reset', 'lost'];
/**
 * The stand-in tries faults in order and the first that fires wins, so a kind's rate applies to the requests the
 * kinds before it spared: these rates give each kind FAULT_RATE / 5 of all requests, FAULT_RATE together (five
 * kinds at 0.2 each would fail two requests in three).
 */
const randomFaults: Fault[] = FAULT_KINDS.map((kind, index) => {
  const share = FAULT_RATE / FAULT_KINDS.length;
  return { kind, rate: share / (1 - share * index), ...(kind === 'latency' ? { latencyMs: TIMEOUT_LATENCY_MS } : {}) };
});

let p: TestPlatform;
beforeAll(async () => {
  // Small settlement pages, so that continuing as new between pages happens under faults too.
  p = await createTestPlatform({ SETTLEMENT_WINDOW_SIZE: '8', SETTLEMENT_PAGE_SIZE: '10' }, { stripeTimeoutMs: CLIENT_TIMEOUT_MS });
});
afterAll(() => p.close());


let nextAmount = 1_000;
const nextPledgeAmount = () => (nextAmount += 137);

test('Stripe failing at random in every way while pledges settle and the creator is paid: each pledge settled once, the ledger balanced', async () => {
  const creator = await createUser(p, { connect: 'onboarded' });
  const funded = await createCampaign(p, creator, { model: 'aon', goal: 10_000, durationMs: days(10) });
  const failed = await createCampaign(p, creator, { model: 'aon', goal: 10_000_000, durationMs: days(10) });

  const { fundedState, failedState, lapsing, saved, holds, released, aimed } = await p.runWorkers(async () => {
    const fundedHandle = await publishCampaign(p, funded.id, creator);
    const failedHandle = await publishCampaign(p, failed.id, creator);
    // Placed 10 days before the deadline, these holds would lapse first (a customer-initiated hold's capture_before is
    // 7 days): placement releases them and keeps the card saved, and settlement charges it.
    const lapsing = await placeMany(p, funded, 'hold', 8, nextPledgeAmount);
    const saved = await placeMany(p, funded, 'saved_card', 8, nextPledgeAmount);
    await p.env.sleep(days(4));
    await p.syncStripeClock();
    // Placed 6 days before the deadline, these holds are still valid and are captured.
    const holds = await placeMany(p, funded, 'hold', 10, nextPledgeAmount);
    const released = [...(await placeMany(p, failed, 'hold', 6, nextPledgeAmount)), ...(await placeMany(p, failed, 'saved_card', 2, nextPledgeAmount))];

    await p.testStripe.clearRequests();
    // Aimed faults first (the first fault that fires wins), matched by the business idempotency keys, so that
    // every way a money movement can fail happens whatever the dice say. "Exhausted" means lost on every try the
    // Stripe client makes, so that the activity itself fails and a retried activity must find the same key.
    const key = (pledge: { id: string }, what: string) => `^pledge-${pledge.id}-${what}`;
    const aimed: Fault[] = [
      { kind: 'lost', idempotencyKey: key(holds[0]!, 'capture$'), count: 1 },
      { kind: 'lost', idempotencyKey: key(holds[1]!, 'capture$'), count: CLIENT_TRIES },
      { kind: 'latency', latencyMs: TIMEOUT_LATENCY_MS, idempotencyKey: key(holds[2]!, 'capture$'), count: 1 },
      { kind: '500', idempotencyKey: key(holds[3]!, 'capture$'), count: 2 },
      { kind: 'reset', idempotencyKey: key(holds[4]!, 'capture$'), count: 1 },
      { kind: '429', idempotencyKey: key(holds[5]!, 'capture$'), count: 1 },
      { kind: 'lost', idempotencyKey: key(saved[0]!, 'charge-'), count: 1 },
      { kind: 'lost', idempotencyKey: key(saved[1]!, 'charge-'), count: CLIENT_TRIES },
      { kind: 'latency', latencyMs: TIMEOUT_LATENCY_MS, idempotencyKey: key(lapsing[0]!, 'charge-'), count: 1 },
      { kind: 'lost', idempotencyKey: key(lapsing[1]!, 'charge-'), count: CLIENT_TRIES },
      { kind: 'lost', idempotencyKey: key(released[0]!, 'release-'), count: CLIENT_TRIES },
      { kind: 'lost', idempotencyKey: `^payout-${funded.id}-v1$`, count: CLIENT_TRIES },
    ];
    for (const fault of [...aimed, ...randomFaults]) await p.testStripe.injectFault(fault);
    // Both campaigns to the end: settlement at the deadline, the payout after its delay, the refund window.
    const [fundedState, failedState] = await Promise.all([fundedHandle.result(), failedHandle.result()]);
    await p.testStripe.clearFaults();
    return { fundedState, failedState, lapsing, saved, holds, released, aimed };
  });

  const log = p.testStripe.standin.requests;
  const fired = (kind: Fault['kind']) => log.filter((r) => r.fault === kind).length;
  const faults = Object.fromEntries(FAULT_KINDS.map((kind) => [kind, fired(kind)]));
  const moneyPaths = /^\/v1\/(payment_intents(\/[^/]+\/(capture|cancel))?|transfers)$/;
  const lostAfterApplied = log.filter((r) => r.fault === 'lost' && r.method === 'POST' && r.status === 200 && !r.replayed && moneyPaths.test(r.path)).length;
  const replayed = log.filter((r) => r.replayed).length;
  console.log(`stripe fault drill: ${log.length} Stripe requests, faults ${JSON.stringify(faults)}, ${lostAfterApplied} money movements applied with the answer lost, ${replayed} replays`);
  // Not a vacuous pass: every kind fired, the random faults on top of the aimed ones, money moved with its answer
  // lost, and idempotency keys answered the retries.
  for (const kind of FAULT_KINDS) expect(faults[kind]).toBeGreaterThan(0);
  expect(log.filter((r) => r.fault).length).toBeGreaterThan(aimed.reduce((sum, fault) => sum + (fault.count ?? 0), 0));
  expect(lostAfterApplied).toBeGreaterThanOrEqual(5);
  expect(log.some((r) => r.fault === 'latency' && r.status === 200 && r.path.endsWith('/capture'))).toBe(true);
  expect(replayed).toBeGreaterThan(0);
  // Where the answer was lost on every try of the Stripe client, the activity failed and was retried: a retried
  // capture or transfer was answered from its idempotency key; a retried charge or release asked Stripe instead.
  const exhausted = aimed.filter((fault) => fault.kind === 'lost' && fault.count === CLIENT_TRIES).map((fault) => new RegExp(fault.idempotencyKey!));
  const lostEveryTry = [['lost', 200, false], ...Array.from({ length: CLIENT_TRIES - 1 }, () => ['lost', 200, true])];
  for (const keyPattern of exhausted) {
    const tries = log.filter((r) => r.idempotencyKey !== undefined && keyPattern.test(r.idempotencyKey));
    expect(tries.slice(0, CLIENT_TRIES).map((r) => [r.fault, r.status, r.replayed])).toEqual(lostEveryTry);
    const retried = tries.slice(CLIENT_TRIES);
    // However the retried activity learnt what Stripe had done, it did nothing anew under that key.
    expect(retried.filter((r) => !r.replayed && r.status === 200)).toEqual([]);
    if (keyPattern.source.includes('-release-') || keyPattern.source.includes('-charge-')) {
      // A release reads the hold and finds it cancelled; a charge is asked for by its metadata (the key may have
      // expired by the time the activity comes back): neither sends its request again.
      expect(retried).toEqual([]);
    } else {
      expect(retried.some((r) => r.replayed && r.status === 200 && !r.fault)).toBe(true);
    }
  }
  // Each charge whose answers were all lost was found again by listing its backer's PaymentIntents.
  expect(log.filter((r) => r.method === 'GET' && r.path === '/v1/payment_intents' && r.status === 200).length).toBeGreaterThanOrEqual(2);

  await expectSettledOnce(p, funded.id, fundedState, { held: holds, charged: [...lapsing, ...saved] });
  // The holds that would have lapsed were released at placement, not captured.
  for (const pledge of lapsing) {
    expect(pledge.payment_intent_id).toBeNull();
    const authorizations = [...p.testStripe.standin.state.paymentIntents.values()].filter((intent) => intent.metadata.pledge_id === pledge.id && intent.capture_method === 'manual');
    expect(authorizations.map((intent) => [intent.status, intent.cancellation_reason])).toEqual([['canceled', 'abandoned']]);
  }

  const db = p.testDb.database.db;
  expect(failedState).toMatchObject({ outcome: 'failed', phase: 'done', payout: null, pledges: { released: released.length, captured: 0, stuck: 0 } });
  const failedAudit = await auditPledges(db, p.testStripe.standin, failed.id);
  expect(failedAudit.map(observed)).toEqual(failedAudit.map((audit) => collectedNothing(audit, 'released')));
  for (const pledge of released.filter((row) => row.payment_intent_id)) {
    expect(p.testStripe.standin.state.paymentIntents.get(pledge.payment_intent_id!)).toMatchObject({ status: 'canceled', cancellation_reason: 'abandoned' });
  }
  expect(await auditPayout(db, p.testStripe.standin, failed.id)).toMatchObject({ transfers: [], appliedTransferRequests: 0, ledgerTransfers: 0 });
  const report = await reconcileCampaign(db, failed.id, p.stripe);
  expect(report.checks.filter((check) => !check.ok)).toEqual([]);
  expect(report.balanced).toBe(true);
}, 150_000);

test('a charge whose every answer was lost is found again when the activity comes back after Stripe forgot its key', async () => {
  const creator = await createUser(p, { connect: 'onboarded' });
  const campaign = await createCampaign(p, creator, { model: 'aon', goal: 1_000, durationMs: days(10), status: 'active' });
  const { pledge } = await placePledge(p, campaign, { amount: 4_321, style: 'saved_card' });
  const settle = createPledgeSettlementActivities({ database: p.testDb.database, stripe: p.stripe, config: p.config, mailer: { send: async () => undefined, close: () => undefined } });

  // Stripe charges the card, and every answer of the client's tries is lost: the activity fails.
  await p.testStripe.injectFault({ kind: 'lost', idempotencyKey: `^pledge-${pledge.id}-charge-1$`, count: CLIENT_TRIES });
  await expect(settle.capturePledge({ pledgeId: pledge.id, attempt: 1 })).rejects.toThrow();
  // It comes back more than a day later (ops retrying a settlement stuck through an outage): the key has expired,
  // so only asking Stripe for the charge keeps the card from being charged again.
  await p.testStripe.advanceClock(25 * 3600);
  expect(await settle.capturePledge({ pledgeId: pledge.id, attempt: 1 })).toMatchObject({ amountCaptured: 4_321, method: 'off_session' });

  const [audit] = await auditPledges(p.testDb.database.db, p.testStripe.standin, campaign.id);
  expect(audit).toMatchObject({ status: 'captured', appliedCharges: 1, succeededIntents: 1, collected: 4_321, ledgerCaptures: 1, ledgerCaptured: 4_321 });
});
