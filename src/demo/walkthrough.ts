/**
 * `npm run demo`: the product's story told against a running platform (`npm start`), through its public API, with
 * the Stripe stand-in's test controls playing the parts of the backer's browser and the bank.
 *
 * A creator onboards and publishes two all-or-nothing campaigns ending in a minute. Four backers pledge to the
 * first, one with a card that asks for 3-D Secure every time: her hold lapses (Stripe's clock moves a week on, as
 * banks let holds lapse after 7 days), so at the deadline her card is charged off-session, fails, and her pledge is
 * errored and then dropped after the grace window. The others are captured; one of them disputes the charge with
 * her bank, support submits evidence and loses, and the creator bears it (DISPUTE_RECOVERY=creator, the default):
 * the payout comes out smaller. Support refunds another backer after the payout, and the reconciliation balances.
 * The second campaign misses its goal and its hold is released.
 * Every step checks what it shows; anything unexpected stops the demo with a non-zero exit.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { type CampaignState } from '../../workflows/messages';
import { AppDatabase } from '../../db/database';
import { saveStaffUser } from '../auth/staff';
import { type PlatformFile } from '../cli/platform-file';
import { fromMinorUnits } from '../money';
import { type ReconciliationView, reconciliationLines } from '../reconciliation/report';
import { standinControls } from '@crowdfund/stripe-standin';
import { TOTP, URI } from 'otpauth';
import { ApiClient } from './api-client';
import { campaignUpdateStep } from './campaign-update-step';
import { surveyStep } from './survey-step';

const WEEK_AND_AN_HOUR_S = 7 * 24 * 60 * 60 + 60 * 60;
/** Stripe's test mode decides a dispute 15 minutes of its time after the evidence is submitted. */
const DISPUTE_DECIDED_S = 16 * 60;
/** Card payments become available in the platform's balance two days after capture. */
const TWO_DAYS_S = 2 * 24 * 60 * 60;
const POLL_MS = 500;
const PASSWORD = 'demo password, not a secret';

interface SignedUp {
  user: { id: string; email: string; name: string };
  token: string;
}
interface CampaignView {
  id: string;
  title: string;
  status: string;
  goalAmount: string;
  currency: string;
  raised?: string;
  backers?: number;
}
interface PledgeView {
  id: string;
  status: string;
  amount: string;
  refunded: string;
  failureCode: string | null;
  graceEndsAt: string | null;
  campaign: { id: string };
}
interface PlacedPledge {
  id: string;
  status: string;
  nextAction?: { type: string; clientSecret: string };
}
interface DisputeView {
  id: string;
  stripeDisputeId: string;
  pledgeId: string;
  status: string;
  reason: string;
  amount: string;
  currency: string;
  settlementAmount: string | null;
  fee: string | null;
  settlementCurrency: string | null;
  evidenceDueBy: string | null;
  recovery: string | null;
}
interface OpsView {
  state: CampaignState;
  workflow: { workflowId: string; status: string; historyLength: number };
}

export async function runDemo(platform: PlatformFile, print: (line: string) => void): Promise<void> {
  if (!platform.stripeStandinUrl) {
    throw new Error('The demo plays the bank and the backers’ browsers through the Stripe stand-in; this platform runs against Stripe itself.');
  }
  const anyone = new ApiClient(platform.apiUrl);
  const bank = standinControls(platform.stripeStandinUrl);
  const run = randomUUID().slice(0, 8);
  const step = (() => {
    let n = 0;
    return (title: string) => print(`\n${++n}. ${title}`);
  })();
  const say = (line: string) => print(`   ${line}`);

  print(`Crowdfund demo against ${platform.apiUrl} (Stripe stand-in at ${platform.stripeStandinUrl})`);

  /** Signs up, signs in, and confirms the address with the link mailed to it (pledging and publishing need it). */
  const signUp = async (name: string) => {
    const email = `${name.toLowerCase()}-${run}@demo.example`;
    await anyone.post<{ status: string }>('/api/auth/signup', { email, password: PASSWORD, name });
    const { user, token } = await anyone.post<SignedUp>('/api/auth/login', { email, password: PASSWORD });
    const api = anyone.as(token);
    await api.post('/api/auth/verify-email', { token: await mailedVerificationToken(platform, user.id) });
    return { ...user, api };
  };
  const staff = await staffAccounts(platform, anyone, run);

  step('A creator signs up and onboards to Stripe Connect for payouts');
  const ada = await signUp('Ada');
  const { accountId, onboardingUrl } = await ada.api.post<{ accountId: string; onboardingUrl: string }>('/api/me/connect');
  await fetch(onboardingUrl); // Ada fills in Stripe's onboarding form
  await waitFor('Stripe to tell the platform that Ada can be paid', async () => (await ada.api.get<{ payoutsEnabled: boolean }>('/api/me/connect')).payoutsEnabled || undefined);
  say(`${ada.email} has Connect account ${accountId}, payouts enabled (from Stripe's account.updated webhook)`);

  const durationMs = platform.campaignMinDurationMs + 2_000;
  step(`Ada publishes two all-or-nothing campaigns, both ending in ${Math.round(durationMs / 1000)} s`);
  const createCampaign = async (title: string, goalAmount: string) => {
    const now = Date.now();
    const campaign = await ada.api.post<CampaignView>('/api/campaigns', {
      title,
      slug: `${title.toLowerCase().replace(/\W+/g, '-')}-${run}`,
      goalAmount,
      currency: 'USD',
      model: 'aon',
      startsAt: new Date(now).toISOString(),
      endsAt: new Date(now + durationMs).toISOString(),
    });
    return campaign;
  };
  const kettle = await createCampaign('Solar kettle', '100.00');
  const earlyBird = await ada.api.post<{ id: string; title: string; minPledge: string }>(`/api/campaigns/${kettle.id}/rewards`, { title: 'Early bird kettle', minPledge: '40.00', limitQty: 50 });
  const boots = await createCampaign('Moon boots', '5000.00');
  for (const campaign of [kettle, boots]) {
    await ada.api.post(`/api/campaigns/${campaign.id}/publish`);
    await waitFor(`${campaign.title} to open for pledges`, async () => ((await anyone.get<CampaignView>(`/api/campaigns/${campaign.id}`)).status === 'active' ? true : undefined));
  }
  say(`"${kettle.title}": goal ${kettle.goalAmount} USD, reward "${earlyBird.title}" from ${earlyBird.minPledge} USD (workflow campaign-${kettle.id})`);
  say(`"${boots.title}": goal ${boots.goalAmount} USD (workflow campaign-${boots.id})`);

  step('Backers pledge by card; all-or-nothing pledges are holds until the deadline');
  const pledge = async (backer: Awaited<ReturnType<typeof signUp>>, campaign: CampaignView, amount: string, paymentMethodId: string, rewardId?: string) =>
    backer.api.post<PlacedPledge>(`/api/campaigns/${campaign.id}/pledges`, { amount, paymentMethodId, ...(rewardId ? { rewardId } : {}) }, { 'idempotency-key': randomUUID() });

  const carol = await signUp('Carol');
  const carolPledge = await pledge(carol, kettle, '30.00', 'pm_card_authenticationRequired');
  if (!carolPledge.nextAction) throw new Error(`Carol's card should ask for 3-D Secure; her pledge is ${carolPledge.status}`);
  await bank.authenticate('payment_intents', carolPledge.nextAction.clientSecret.split('_secret_')[0]!);
  await waitFor('the 3-D Secure webhook to authorize Carol’s pledge', async () => ((await myPledge(carol.api, carolPledge.id)).status === 'authorized' ? true : undefined));
  say(`Carol pledges 30.00 USD with a card that asks for 3-D Secure every time: she authenticates in her browser, the hold is placed`);
  await bank.advanceClock(WEEK_AND_AN_HOUR_S);
  say(`Stripe's clock moves a week on: Carol's bank lets her hold lapse (holds last 7 days), so her card must be charged off-session`);

  const alice = await signUp('Alice');
  const bob = await signUp('Bob');
  const dave = await signUp('Dave');
  const eve = await signUp('Eve');
  // pm_card_bypassPending: Stripe's test card whose funds are available at once, so the payout need not wait two days.
  const alicePledge = await pledge(alice, kettle, '50.00', 'pm_card_bypassPending');
  say(`Alice pledges 50.00 USD: ${alicePledge.status}`);
  const bobPledge = await pledge(bob, kettle, '40.00', 'pm_card_bypassPending', earlyBird.id);
  say(`Bob pledges 40.00 USD for "${earlyBird.title}": ${bobPledge.status}`);
  // pm_card_createDispute: Stripe's test card whose holder disputes the charge once it is captured.
  const evePledge = await pledge(eve, kettle, '25.00', 'pm_card_createDispute');
  say(`Eve pledges 25.00 USD with a card whose holder will dispute the charge: ${evePledge.status}`);
  const davePledge = await pledge(dave, boots, '20.00', 'pm_card_visa');
  say(`Dave pledges 20.00 USD to "${boots.title}": ${davePledge.status}`);
  const detail = await anyone.get<CampaignView>(`/api/campaigns/${kettle.id}`);
  say(`"${kettle.title}" shows ${detail.raised} USD from ${detail.backers} backers; GET /api/campaigns/:id/progress streams it live`);

  step('The deadline passes; each campaign workflow tallies its pledges and settles each one in a child workflow');
  const decided = async (campaign: CampaignView, timeoutMs: number) => {
    const state = await waitFor(`the outcome of "${campaign.title}"`, async () => {
      const { state } = await opsState(staff.ops, campaign.id);
      return state.outcome ? state : undefined;
    }, timeoutMs);
    say(`"${campaign.title}": ${state.outcome}, ${fromMinorUnits(state.totals.pledged, campaign.currency)} of ${campaign.goalAmount} USD pledged by ${state.totals.backers} backer${state.totals.backers === 1 ? '' : 's'}`);
    return state.outcome;
  };
  const kettleOutcome = await decided(kettle, durationMs + 60_000);
  const bootsOutcome = await decided(boots, 60_000);
  expect(kettleOutcome === 'funded', `"${kettle.title}" should be funded, it is ${kettleOutcome}`);
  expect(bootsOutcome === 'failed', `"${boots.title}" should have failed, it is ${bootsOutcome}`);

  const settled = (p: PledgeView) => !['authorized', 'pending'].includes(p.status);
  const [aliceNow, bobNow, eveNow, carolNow, daveNow] = await Promise.all([
    waitFor('Alice’s pledge to settle', async () => ifSettled(await myPledge(alice.api, alicePledge.id), settled)),
    waitFor('Bob’s pledge to settle', async () => ifSettled(await myPledge(bob.api, bobPledge.id), settled)),
    waitFor('Eve’s pledge to settle', async () => ifSettled(await myPledge(eve.api, evePledge.id), settled)),
    waitFor('Carol’s pledge to settle', async () => ifSettled(await myPledge(carol.api, carolPledge.id), settled)),
    waitFor('Dave’s pledge to settle', async () => ifSettled(await myPledge(dave.api, davePledge.id), settled)),
  ]);
  expect(
    [aliceNow, bobNow, eveNow].every((p) => p.status === 'captured'),
    `Alice, Bob and Eve should be captured: ${aliceNow.status}, ${bobNow.status}, ${eveNow.status}`,
  );
  expect(carolNow.status === 'errored', `Carol's pledge should be errored, it is ${carolNow.status}`);
  expect(daveNow.status === 'released', `Dave's pledge should be released, it is ${daveNow.status}`);
  say(`Alice: captured ${aliceNow.amount} USD (her hold)`);
  say(`Bob: captured ${bobNow.amount} USD (his hold)`);
  say(`Eve: captured ${eveNow.amount} USD (her hold)`);
  say(`Carol: errored (${carolNow.failureCode}): the off-session charge needs her; she is mailed a link to save a new card before ${carolNow.graceEndsAt}`);
  say(`Dave: released: his hold is cancelled and he pays nothing`);

  step('Carol does not fix her card: after the grace window her pledge is dropped');
  const carolDropped = await waitFor('Carol’s pledge to be dropped', async () => ifSettled(await myPledge(carol.api, carolPledge.id), (p) => p.status !== 'errored'), 10 * 60_000);
  expect(carolDropped.status === 'dropped', `Carol's pledge should be dropped, it is ${carolDropped.status}`);
  say(`Carol: dropped, nothing charged`);

  step('Eve disputes the charge with her bank; support answers the chargeback through the API');
  const eveDisputes = (status: string) => async () =>
    (await staff.support.get<{ disputes: DisputeView[] }>(`/api/support/disputes?status=${status}`)).disputes.find((d) => d.pledgeId === evePledge.id);
  const opened = await waitFor('Eve’s dispute in support’s queue', eveDisputes('open'));
  expect(opened.status === 'needs_response', `Eve's dispute should need a response, it is ${opened.status}`);
  const settlementCurrency = opened.settlementCurrency ?? 'USD';
  say(`GET /api/support/disputes: ${opened.stripeDisputeId}, ${opened.amount} ${opened.currency} (${opened.reason}), ${opened.status}, evidence due ${opened.evidenceDueBy}`);
  say(`Stripe withdrew ${opened.settlementAmount} ${settlementCurrency} and its ${opened.fee} ${settlementCurrency} dispute fee from the platform at once (the charge.dispute.* webhooks booked both)`);
  // 'losing_evidence': Stripe's test-mode text for evidence the issuer rejects.
  const { dispute: submitted } = await staff.support.post<{ dispute: DisputeView }>(
    `/api/support/disputes/${opened.id}/evidence`,
    { evidence: { uncategorized_text: 'losing_evidence' } },
    { 'idempotency-key': randomUUID() },
  );
  expect(submitted.status === 'under_review', `Eve's dispute should be under review, it is ${submitted.status}`);
  say(`POST /api/support/disputes/:id/evidence (Stripe's test text 'losing_evidence'): ${submitted.status}`);
  await bank.advanceClock(DISPUTE_DECIDED_S);
  const closed = await waitFor('Eve’s dispute to be decided', async () => {
    const dispute = await eveDisputes('all')();
    return dispute?.recovery ? dispute : undefined;
  });
  expect(closed.status === 'lost', `Eve's dispute should be lost, it is ${closed.status}`);
  expect(closed.recovery === 'payout', `Eve's lost dispute should come off the payout (DISPUTE_RECOVERY=creator, the default); it is ${closed.recovery}`);
  say(`Stripe's clock moves 16 minutes on and the issuer decides: ${closed.status}; not paid out yet, so it comes off the payout (DISPUTE_RECOVERY=creator)`);

  step('Once Eve’s payment is available the creator is paid through a Stripe Connect transfer');
  await bank.advanceClock(TWO_DAYS_S);
  say(`Stripe's clock moves two days on: card payments become available two days after capture (Alice's and Bob's test cards at once)`);
  const paid = await waitFor('the payout', async () => {
    const { state } = await opsState(staff.ops, kettle.id);
    return state.payout?.state === 'paid' ? state.payout : undefined;
  }, 10 * 60_000);
  say(
    `transfer ${paid.transferId}: ${fromMinorUnits(paid.amount ?? 0, settlementCurrency)} ${settlementCurrency} to ${accountId} ` +
      `(the 115.00 USD captured, less Eve's ${closed.amount} USD and the ${closed.fee} ${settlementCurrency} dispute fee, the commission and Stripe's fees)`,
  );

  step('Support refunds Bob in full; the creator’s share comes back from the transfer');
  const { refundId } = await staff.support.post<{ refundId: string }>(`/api/support/pledges/${bobPledge.id}/refunds`, { reason: 'The kettle will not ship to his country' }, { 'idempotency-key': randomUUID() });
  const bobRefunded = await waitFor('Bob’s refund', async () => ifSettled(await myPledge(bob.api, bobPledge.id), (p) => p.status === 'refunded'));
  say(`refund ${refundId}: ${bobRefunded.refunded} USD back to Bob's card`);

  step('Reconciliation: the ledger, the pledge rows and Stripe agree to the cent');
  for (const campaign of [kettle, boots]) {
    // A background job: POST starts it (Stripe is asked about every pledge), GET shows its progress, then the report.
    const path = `/api/ops/campaigns/${campaign.id}/reconciliation`;
    const { id: jobId } = await staff.ops.post<ReconciliationJobView>(path);
    const job = await waitFor(`the reconciliation of "${campaign.title}"`, async () => {
      const latest = await staff.ops.get<ReconciliationJobView>(path);
      return latest.id === jobId && (latest.status === 'succeeded' || latest.status === 'failed') ? latest : undefined;
    });
    if (!job.result) throw new Error(`demo: the reconciliation of "${campaign.title}" failed: ${job.error}`);
    const view = job.result;
    print(`   "${campaign.title}" (POST ${path}: job ${jobId}, ${job.progress.pledgesChecked} pledges checked on Stripe)`);
    for (const line of reconciliationLines(view)) say(line);
    expect(view.balanced, `"${campaign.title}" does not reconcile`);
  }
  await campaignUpdateStep({ platform, anyone, creator: ada, backer: alice, campaign: kettle, step, say });
  await surveyStep({ platform, creator: ada, backer: alice, pledgeId: alicePledge.id, campaign: kettle, step, say });
  const { workflow } = await opsState(staff.ops, kettle.id);
  print(`\nDone. Ops can follow ${workflow.workflowId} (${workflow.status}, ${workflow.historyLength} events) in Temporal; it stays open for refunds until the refund window ends.`);
}

/**
 * The link the platform mailed to the account, read from its notification outbox: the local platform has no mail
 * server (its mailer renders messages without sending them), so the outbox row is the demo's mailbox.
 */
async function mailedVerificationToken(platform: PlatformFile, userId: string): Promise<string> {
  const database = new AppDatabase({ connectionString: platform.databaseUrl, poolSize: 1, applicationName: 'crowdfund-demo' });
  try {
    const mail = await database.db
      .selectFrom('notifications')
      .select('payload')
      .where('recipient_id', '=', userId)
      .where('template', '=', 'email_verification')
      .orderBy('id', 'desc')
      .executeTakeFirstOrThrow();
    const token = new URL((mail.payload as { verifyUrl: string }).verifyUrl).searchParams.get('token');
    if (!token) throw new Error('demo: the verification email has no token in its link');
    return token;
  } finally {
    await database.close();
  }
}

/**
 * Support and ops accounts, made as `npm run user:create` makes them, then signed in through the API with their
 * password and a second factor: each enrols an authenticator (the app's part played by otpauth, reading the
 * otpauth:// URI as a phone scans it), and the app's code that confirms the enrolment opens the session to staff
 * endpoints. (A later sign-in sends a fresh code as `totp`; a code is never accepted twice.)
 */
async function staffAccounts(platform: PlatformFile, api: ApiClient, run: string) {
  const database = new AppDatabase({ connectionString: platform.databaseUrl, poolSize: 1, applicationName: 'crowdfund-demo' });
  const password = randomBytes(12).toString('base64url');
  const signIn = async (role: 'support' | 'ops') => {
    const email = `${role}-${run}@demo.example`;
    await saveStaffUser(database.db, { email, role, password });
    const { token } = await api.post<{ token: string }>('/api/auth/login', { email, password });
    const session = api.as(token);
    const { uri } = await session.post<{ uri: string }>('/api/me/totp');
    const authenticator = URI.parse(uri);
    if (!(authenticator instanceof TOTP)) throw new Error(`demo: ${uri} is not a TOTP enrolment`);
    const { secondFactor } = await session.post<{ secondFactor: boolean }>('/api/me/totp/confirm', { code: authenticator.generate() });
    expect(secondFactor, `${email}'s session did not pass the second factor`);
    return session;
  };
  try {
    return { support: await signIn('support'), ops: await signIn('ops') };
  } finally {
    await database.close();
  }
}

async function myPledge(api: ApiClient, pledgeId: string): Promise<PledgeView> {
  const { data } = await api.get<{ data: PledgeView[] }>('/api/me/pledges');
  const pledge = data.find((p) => p.id === pledgeId);
  if (!pledge) throw new Error(`pledge ${pledgeId} is not among the backer's pledges`);
  return pledge;
}

const opsState = (ops: ApiClient, campaignId: string) => ops.get<OpsView>(`/api/ops/campaigns/${campaignId}`);

/** What GET /api/ops/campaigns/:id/reconciliation answers (src/api/routes/ops.ts). */
interface ReconciliationJobView {
  id: string;
  status: 'queued' | 'running' | 'succeeded' | 'failed';
  progress: { pledgesChecked: number; pledgesTotal: number | null };
  result: ReconciliationView | null;
  error: string | null;
}

const ifSettled = <T>(value: T, done: (value: T) => boolean): T | undefined => (done(value) ? value : undefined);

function expect(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`demo: ${message}`);
}

/** Polls until `check` returns a value, or fails naming what it waited for. */
async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`demo: gave up waiting for ${what} after ${Math.round(timeoutMs / 1000)} s`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
