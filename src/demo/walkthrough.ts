/**
 * `npm run demo`: the product's story told against a running platform (`npm start`), through its public API, with
 * the Stripe stand-in's test controls playing the parts of the backer's browser and the bank.
 *
 * A creator onboards and publishes two all-or-nothing campaigns ending in a minute. Three backers pledge to the
 * first, one with a card that asks for 3-D Secure every time: her hold lapses (Stripe's clock moves a week on, as
 * banks let holds lapse after 7 days), so at the deadline her card is charged off-session, fails, and her pledge is
 * errored and then dropped after the grace window. The others are captured, the creator is paid, support refunds
 * one backer, and the reconciliation balances. The second campaign misses its goal and its hold is released.
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
import { ApiClient } from './api-client';

const WEEK_AND_AN_HOUR_S = 7 * 24 * 60 * 60 + 60 * 60;
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

  const signUp = async (name: string) => {
    const email = `${name.toLowerCase()}-${run}@demo.example`;
    const { user, token } = await anyone.post<SignedUp>('/api/auth/signup', { email, password: PASSWORD, name });
    return { ...user, api: anyone.as(token) };
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
  // pm_card_bypassPending: Stripe's test card whose funds are available at once, so the payout need not wait two days.
  const alicePledge = await pledge(alice, kettle, '50.00', 'pm_card_bypassPending');
  say(`Alice pledges 50.00 USD: ${alicePledge.status}`);
  const bobPledge = await pledge(bob, kettle, '40.00', 'pm_card_bypassPending', earlyBird.id);
  say(`Bob pledges 40.00 USD for "${earlyBird.title}": ${bobPledge.status}`);
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
  const [aliceNow, bobNow, carolNow, daveNow] = await Promise.all([
    waitFor('Alice’s pledge to settle', async () => ifSettled(await myPledge(alice.api, alicePledge.id), settled)),
    waitFor('Bob’s pledge to settle', async () => ifSettled(await myPledge(bob.api, bobPledge.id), settled)),
    waitFor('Carol’s pledge to settle', async () => ifSettled(await myPledge(carol.api, carolPledge.id), settled)),
    waitFor('Dave’s pledge to settle', async () => ifSettled(await myPledge(dave.api, davePledge.id), settled)),
  ]);
  expect(aliceNow.status === 'captured' && bobNow.status === 'captured', `Alice and Bob should be captured: ${aliceNow.status}, ${bobNow.status}`);
  expect(carolNow.status === 'errored', `Carol's pledge should be errored, it is ${carolNow.status}`);
  expect(daveNow.status === 'released', `Dave's pledge should be released, it is ${daveNow.status}`);
  say(`Alice: captured ${aliceNow.amount} USD (her hold)`);
  say(`Bob: captured ${bobNow.amount} USD (his hold)`);
  say(`Carol: errored (${carolNow.failureCode}): the off-session charge needs her; she is mailed a link to save a new card before ${carolNow.graceEndsAt}`);
  say(`Dave: released: his hold is cancelled and he pays nothing`);

  step('Carol does not fix her card: after the grace window her pledge is dropped');
  const carolDropped = await waitFor('Carol’s pledge to be dropped', async () => ifSettled(await myPledge(carol.api, carolPledge.id), (p) => p.status !== 'errored'), 10 * 60_000);
  expect(carolDropped.status === 'dropped', `Carol's pledge should be dropped, it is ${carolDropped.status}`);
  say(`Carol: dropped, nothing charged`);

  step('After the payout delay the creator is paid through a Stripe Connect transfer');
  const paid = await waitFor('the payout', async () => {
    const { state } = await opsState(staff.ops, kettle.id);
    return state.payout?.state === 'paid' ? state.payout : undefined;
  }, 10 * 60_000);
  say(`transfer ${paid.transferId}: ${fromMinorUnits(paid.amount ?? 0, 'USD')} USD to ${accountId} (captured 90.00 less the platform's commission and Stripe's fees)`);

  step('Support refunds Bob in full; the creator’s share comes back from the transfer');
  const { refundId } = await staff.support.post<{ refundId: string }>(`/api/support/pledges/${bobPledge.id}/refunds`, { reason: 'The kettle will not ship to his country' }, { 'idempotency-key': randomUUID() });
  const bobRefunded = await waitFor('Bob’s refund', async () => ifSettled(await myPledge(bob.api, bobPledge.id), (p) => p.status === 'refunded'));
  say(`refund ${refundId}: ${bobRefunded.refunded} USD back to Bob's card`);

  step('Reconciliation: the ledger, the pledge rows and Stripe agree to the cent');
  for (const campaign of [kettle, boots]) {
    const view = await staff.ops.get<ReconciliationView>(`/api/ops/campaigns/${campaign.id}/reconciliation`);
    print(`   "${campaign.title}"`);
    for (const line of reconciliationLines(view)) say(line);
    expect(view.balanced, `"${campaign.title}" does not reconcile`);
  }
  const { workflow } = await opsState(staff.ops, kettle.id);
  print(`\nDone. Ops can follow ${workflow.workflowId} (${workflow.status}, ${workflow.historyLength} events) in Temporal; it stays open for refunds until the refund window ends.`);
}

/** Support and ops accounts, made as `npm run user:create` makes them, then signed in through the API. */
async function staffAccounts(platform: PlatformFile, api: ApiClient, run: string) {
  const database = new AppDatabase({ connectionString: platform.databaseUrl, poolSize: 1, applicationName: 'crowdfund-demo' });
  const password = randomBytes(12).toString('base64url');
  const signIn = async (role: 'support' | 'ops') => {
    const email = `${role}-${run}@demo.example`;
    await saveStaffUser(database.db, { email, role, password });
    const { token } = await api.post<{ token: string }>('/api/auth/login', { email, password });
    return api.as(token);
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
