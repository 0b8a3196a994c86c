/**
 * Proves where every cent of a campaign went, in both of its currencies. Three sources must agree to the minor unit:
 * the append-only ledger, the pledge/payout/refund rows, and Stripe's own objects.
 *
 * - Presentment (the campaign's currency, what backers paid and got back): the ledger's captures and refunds equal
 *   the pledge and refund rows, and what Stripe's PaymentIntents and charges say they collected and refunded.
 * - Settlement (the platform's currency, what Stripe's balance holds): the invariant
 *
 *     captured - refunded = (transfers - reversals) + (commission - commission reversals) + processing fees + held
 *
 *   where `held` is what the platform still holds for the creator (everything net of fees before the payout; after it,
 *   the payout's reserve against chargebacks not yet drawn on or released, and nothing else unless fees exceeded what
 *   was left), and each term equals Stripe's balance transactions: the charges'
 *   converted amounts and fees, the refunds' converted amounts, and the transfer net of its reversals. Chargebacks
 *   take what Stripe withdrew (less what it reinstated) and their fees from `captured - refunded`
 *   (src/disputes/dispute-reconciliation.ts).
 */
import type Stripe from 'stripe';
import { sql } from 'kysely';
import { type Db } from '../../db/database';
import { pledgeTotals } from '../pledges/pledge-totals';
import { ledgerTotals, type LedgerTotals } from '../ledger/ledger';
import { reconcileDisputes } from '../disputes/dispute-reconciliation';

export interface ReconciliationCheck {
  name: string;
  /** The currency both figures are in (the campaign's, or the platform's settlement currency); null: a count. */
  currency: string | null;
  expected: number;
  actual: number;
  ok: boolean;
}

export interface ReconciliationReport {
  campaignId: string;
  /** The campaign's (presentment) currency. */
  currency: string;
  /** The platform's settlement currency, in which the ledger totals, the breakdown and the invariant are. */
  settlementCurrency: string;
  /** The ledger's settlement view. */
  ledger: LedgerTotals;
  /** What backers paid and got back, in the campaign's currency. */
  presentment: { captured: number; refunded: number; netCollected: number };
  /** captured - refunded in the settlement currency, split as the invariant says. */
  breakdown: { netCollected: number; transferred: number; commission: number; processingFees: number; held: number };
  /** The payout's reserve against chargebacks (settlement): `held` is the part of the breakdown's `held` it makes up. */
  reserve: { held: number; drawn: number; released: number };
  checks: ReconciliationCheck[];
  balanced: boolean;
}

const checkIn =
  (currency: string | null) =>
  (name: string, expected: number, actual: number): ReconciliationCheck => ({ name, currency, expected, actual, ok: expected === actual });

/** For a run in the background (src/reconciliation/reconciliation-jobs.ts): its progress, and a way to stop it. */
export interface ReconcileOptions {
  /** Called before each captured pledge is checked on Stripe, and once all are (checked = total). */
  onPledgeChecked?: (checked: number, total: number) => void | Promise<void>;
  /** Stops the run between two pledges (the API shutting down). */
  signal?: AbortSignal;
}

export async function reconcileCampaign(db: Db, campaignId: string, stripe?: Stripe, options: ReconcileOptions = {}): Promise<ReconciliationReport> {
  const campaign = await db.selectFrom('campaigns').select(['id', 'currency']).where('id', '=', campaignId).executeTakeFirstOrThrow();
  const payout = await db.selectFrom('payouts').selectAll().where('campaign_id', '=', campaignId).executeTakeFirst();
  const settlementCurrencies = await db.selectFrom('ledger_entries').select('settlement_currency').distinct().where('campaign_id', '=', campaignId).execute();
  // The ledger says what the campaign's money settled in; a campaign with no money yet settles in its own currency.
  const settlementCurrency = settlementCurrencies[0]?.settlement_currency ?? payout?.currency ?? campaign.currency;
  const presented = checkIn(campaign.currency);
  const settled = checkIn(settlementCurrency);
  const counted = checkIn(null);

  const shown = await ledgerTotals(db, campaignId, 'presentment');
  const ledger = await ledgerTotals(db, campaignId, 'settlement');
  const pledges = await pledgeTotals(db, campaignId);
  const refunds = await db
    .selectFrom('refunds')
    .innerJoin('pledges', 'pledges.id', 'refunds.pledge_id')
    .select([
      sql<number>`coalesce(sum(refunds.amount) filter (where refunds.status = 'succeeded'), 0)`.as('refunded'),
      // Refunds that failed after they were made (src/refunds/refund-failures.ts): booked back as `refund_failed`.
      sql<number>`coalesce(sum(refunds.amount) filter (where refunds.status = 'failed' and refunds.failed_at is not null), 0)`.as('failed'),
      // A reversal still pending (Stripe down) is owed by the creator but not yet moved: the ledger has no entry for it.
      // A reversal made for a refund that later failed was still made: it counts, whatever became of the refund.
      sql<number>`coalesce(sum(refunds.transfer_reversal_amount) filter (where refunds.reversal_status = 'succeeded'), 0)`.as('reversed'),
      // The creator's share paid again after a failed refund: a transfer of its own once made, owed until then.
      sql<number>`coalesce(sum(refunds.restore_amount) filter (where refunds.restore_status = 'succeeded'), 0)`.as('restored'),
      sql<number>`coalesce(sum(refunds.restore_amount) filter (where refunds.restore_status = 'pending'), 0)`.as('owed_back'),
    ])
    .where('pledges.campaign_id', '=', campaignId)
    .executeTakeFirstOrThrow();
  // Chargebacks (src/disputes/dispute-reconciliation.ts): their own checks, and their terms in the invariant.
  const disputes = await reconcileDisputes(db, campaignId, { shown, ledger, presented, settled }, stripe);
  const owedBack = Number(refunds.owed_back) + disputes.owedBack;

  // A refund that failed after it was made is booked back (`refund_failed`): what stays refunded is the difference.
  const presentment = { captured: shown.capture, refunded: shown.refund - shown.refund_failed, netCollected: 0 };
  presentment.netCollected = presentment.captured - presentment.refunded;
  const netCollected = ledger.capture - (ledger.refund - ledger.refund_failed) - disputes.disputed;
  const transferred = ledger.transfer - ledger.transfer_reversal;
  const commission = ledger.platform_fee - ledger.platform_fee_reversal;
  const held = netCollected - transferred - commission - ledger.processing_fee;
  const paid = payout?.status === 'paid';
  // The payout's reserve: held back at the payout, drawn on by disputes lost, released by a second transfer.
  const reserveHeld = ledger.reserve_held - ledger.reserve_drawn - ledger.reserve_released;
  const reserveReleased = payout?.reserve_status === 'released' ? payout.reserve_release_amount : 0;

  const checks: ReconciliationCheck[] = [
    presented('ledger captures = pledges captured', pledges.captured, presentment.captured),
    presented('ledger refunds = pledges refunded', pledges.refunded, presentment.refunded),
    presented('ledger refunds = succeeded refund rows', Number(refunds.refunded), presentment.refunded),
    presented('ledger refund failures = refund rows failed after they were made', Number(refunds.failed), shown.refund_failed),
    counted('settlement currencies in the ledger (at most one)', Math.min(settlementCurrencies.length, 1), settlementCurrencies.length),
    settled('ledger processing fees = pledges processing fees', pledges.processingFees, ledger.processing_fee),
    settled('ledger transfer reversals = refund and dispute rows reversals', Number(refunds.reversed) + disputes.reversed, ledger.transfer_reversal),
    settled('ledger reserve drawn = dispute rows drawn on the reserve', disputes.reserveDrawn, ledger.reserve_drawn),
    settled('ledger reserve released = the payout row released', reserveReleased, ledger.reserve_released),
    settled('reserve still held is not negative', Math.max(reserveHeld, 0), reserveHeld),
    ...disputes.checks,
  ];
  if (paid) {
    checks.push(counted(`payouts in another currency than ${settlementCurrency}`, 0, payout.currency === settlementCurrency ? 0 : 1));
    checks.push(
      settled('ledger transfer = payout amount + shares paid again after failed refunds + reserve released', payout.amount + Number(refunds.restored) + reserveReleased, ledger.transfer),
    );
    checks.push(settled('ledger reserve held = the payout row reserve', payout.reserve_amount, ledger.reserve_held));
    // Held after the payout: the reserve still held, and a share owed back to the creator whose transfer is not made yet.
    checks.push(
      settled(
        'captured - refunded = transferred + commission + fees + reserve held (nothing else held after payout)',
        netCollected,
        transferred + commission + ledger.processing_fee + owedBack + reserveHeld + Math.min(held - owedBack - reserveHeld, 0),
      ),
    );
  } else {
    checks.push(settled('no transfer before the payout', 0, ledger.transfer));
    checks.push(settled('no commission before the payout', 0, ledger.platform_fee));
    checks.push(settled('no reserve before the payout', 0, ledger.reserve_held));
  }
  if (stripe) {
    const restoreIds = await db
      .selectFrom('refunds')
      .innerJoin('pledges', 'pledges.id', 'refunds.pledge_id')
      .select('refunds.restore_transfer_id')
      .where('pledges.campaign_id', '=', campaignId)
      .where('refunds.restore_status', '=', 'succeeded')
      .execute();
    const releaseIds = payout?.reserve_release_transfer_id ? [payout.reserve_release_transfer_id] : [];
    const transferIds = payout?.stripe_transfer_id ? [payout.stripe_transfer_id, ...restoreIds.map((row) => row.restore_transfer_id!), ...releaseIds] : [];
    checks.push(...(await stripeChecks(db, stripe, { campaignId, presented, settled, ledger, transferIds }, options)));
  }

  return {
    campaignId,
    currency: campaign.currency,
    settlementCurrency,
    ledger,
    presentment,
    breakdown: { netCollected, transferred, commission, processingFees: ledger.processing_fee, held },
    reserve: { held: reserveHeld, drawn: ledger.reserve_drawn, released: ledger.reserve_released },
    checks,
    balanced: checks.every((c) => c.ok),
  };
}

type Check = ReturnType<typeof checkIn>;

/**
 * Stripe's side. Presentment: what each PaymentIntent collected and its charge refunded. Settlement: the balance
 * transactions of the charges (converted amount and fee) and of the refunds that still stand (converted amount),
 * and the transfer net of its reversals.
 */
async function stripeChecks(
  db: Db,
  stripe: Stripe,
  { campaignId, presented, settled, ledger, transferIds }: { campaignId: string; presented: Check; settled: Check; ledger: LedgerTotals; transferIds: string[] },
  { onPledgeChecked, signal }: ReconcileOptions = {},
): Promise<ReconciliationCheck[]> {
  const pledges = await db
    .selectFrom('pledges')
    .select(['id', 'payment_intent_id', 'amount_captured', 'amount_refunded', 'processing_fee'])
    .where('campaign_id', '=', campaignId)
    .where('amount_captured', '>', 0)
    .execute();
  const onStripe = { captured: 0, refunded: 0, settledCaptured: 0, fees: 0, settledRefunded: 0 };
  for (const [index, pledge] of pledges.entries()) {
    signal?.throwIfAborted();
    await onPledgeChecked?.(index, pledges.length);
    if (!pledge.payment_intent_id) continue;
    const intent = await stripe.paymentIntents.retrieve(pledge.payment_intent_id, { expand: ['latest_charge.balance_transaction'] });
    const charge = intent.latest_charge as Stripe.Charge | null;
    onStripe.captured += intent.amount_received;
    onStripe.refunded += charge?.amount_refunded ?? 0;
    const balance = charge?.balance_transaction;
    if (balance && typeof balance !== 'string') {
      onStripe.settledCaptured += balance.amount;
      onStripe.fees += balance.fee;
    }
    if ((charge?.amount_refunded ?? 0) === 0) continue;
    for await (const refund of stripe.refunds.list({ payment_intent: intent.id, limit: 100, expand: ['data.balance_transaction'] })) {
      // A refund that failed or was canceled gave its money back to the balance (a second balance transaction).
      if (refund.status === 'failed' || refund.status === 'canceled') continue;
      const refunded = refund.balance_transaction;
      if (refunded && typeof refunded !== 'string') onStripe.settledRefunded += -refunded.amount;
    }
  }
  await onPledgeChecked?.(pledges.length, pledges.length);
  const ours = pledges.reduce(
    (sum, pledge) => ({ captured: sum.captured + pledge.amount_captured, refunded: sum.refunded + pledge.amount_refunded, fees: sum.fees + pledge.processing_fee }),
    { captured: 0, refunded: 0, fees: 0 },
  );
  const checks = [
    presented('Stripe captured = pledges captured', onStripe.captured, ours.captured),
    presented('Stripe refunded = pledges refunded', onStripe.refunded, ours.refunded),
    settled('Stripe fees = pledges processing fees', onStripe.fees, ours.fees),
    settled('Stripe charges settled = ledger captures settled', onStripe.settledCaptured, ledger.capture),
    settled('Stripe refunds settled = ledger refunds settled', onStripe.settledRefunded, ledger.refund - ledger.refund_failed),
  ];
  if (transferIds.length > 0) {
    // The payout's transfer, and any paying a creator's share again after a refund failed.
    let transferredNet = 0;
    for (const transferId of transferIds) {
      const transfer = await stripe.transfers.retrieve(transferId);
      transferredNet += transfer.amount - transfer.amount_reversed;
    }
    checks.push(settled('Stripe transfers net of reversals = ledger', transferredNet, ledger.transfer - ledger.transfer_reversal));
  }
  return checks;
}
