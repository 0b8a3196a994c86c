/**
 * Proves where every cent of a campaign went. Three sources must agree to the minor unit: the append-only ledger,
 * the pledge/payout/refund rows, and Stripe's own objects. The invariant:
 *
 *   captured - refunded = (transfers - reversals) + (commission - commission reversals) + processing fees + held
 *
 * where `held` is what the platform still holds for the creator: everything net of fees before the payout, and
 * nothing after it (unless fees exceeded what was left).
 */
import type Stripe from 'stripe';
import { sql } from 'kysely';
import { type Db } from '../../db/database';
import { pledgeTotals } from '../pledges/pledge-totals';
import { ledgerTotals, type LedgerTotals } from '../ledger/ledger';

export interface ReconciliationCheck {
  name: string;
  expected: number;
  actual: number;
  ok: boolean;
}

export interface ReconciliationReport {
  campaignId: string;
  currency: string;
  ledger: LedgerTotals;
  /** captured - refunded, split as the invariant says. */
  breakdown: { netCollected: number; transferred: number; commission: number; processingFees: number; held: number };
  checks: ReconciliationCheck[];
  balanced: boolean;
}

const check = (name: string, expected: number, actual: number): ReconciliationCheck => ({ name, expected, actual, ok: expected === actual });

export async function reconcileCampaign(db: Db, campaignId: string, stripe?: Stripe): Promise<ReconciliationReport> {
  const campaign = await db.selectFrom('campaigns').select(['id', 'currency']).where('id', '=', campaignId).executeTakeFirstOrThrow();
  const ledger = await ledgerTotals(db, campaignId);
  const pledges = await pledgeTotals(db, campaignId);
  const refunds = await db
    .selectFrom('refunds')
    .innerJoin('pledges', 'pledges.id', 'refunds.pledge_id')
    .select([
      sql<number>`coalesce(sum(refunds.amount), 0)`.as('refunded'),
      // A reversal still pending (Stripe down) is owed by the creator but not yet moved: the ledger has no entry for it.
      sql<number>`coalesce(sum(refunds.transfer_reversal_amount) filter (where refunds.reversal_status = 'succeeded'), 0)`.as('reversed'),
    ])
    .where('pledges.campaign_id', '=', campaignId)
    .where('refunds.status', '=', 'succeeded')
    .executeTakeFirstOrThrow();
  const payout = await db.selectFrom('payouts').selectAll().where('campaign_id', '=', campaignId).executeTakeFirst();

  const netCollected = ledger.capture - ledger.refund;
  const transferred = ledger.transfer - ledger.transfer_reversal;
  const commission = ledger.platform_fee - ledger.platform_fee_reversal;
  const held = netCollected - transferred - commission - ledger.processing_fee;
  const paid = payout?.status === 'paid';

  const checks: ReconciliationCheck[] = [
    check('ledger captures = pledges captured', pledges.captured, ledger.capture),
    check('ledger refunds = pledges refunded', pledges.refunded, ledger.refund),
    check('ledger refunds = succeeded refund rows', Number(refunds.refunded), ledger.refund),
    check('ledger processing fees = pledges processing fees', pledges.processingFees, ledger.processing_fee),
    check('ledger transfer reversals = refund rows reversals', Number(refunds.reversed), ledger.transfer_reversal),
  ];
  if (paid) {
    checks.push(check('ledger transfer = payout amount', payout.amount, ledger.transfer));
    checks.push(check('captured - refunded = transferred + commission + fees (nothing held after payout)', netCollected, transferred + commission + ledger.processing_fee + Math.min(held, 0)));
  } else {
    checks.push(check('no transfer before the payout', 0, ledger.transfer));
    checks.push(check('no commission before the payout', 0, ledger.platform_fee));
  }
  if (stripe) checks.push(...(await stripeChecks(db, stripe, campaignId, payout?.stripe_transfer_id ?? null)));

  return {
    campaignId,
    currency: campaign.currency,
    ledger,
    breakdown: { netCollected, transferred, commission, processingFees: ledger.processing_fee, held },
    checks,
    balanced: checks.every((c) => c.ok),
  };
}

/** Stripe's side: what each PaymentIntent collected and refunded, its fee, and the transfer net of reversals. */
async function stripeChecks(db: Db, stripe: Stripe, campaignId: string, transferId: string | null): Promise<ReconciliationCheck[]> {
  const pledges = await db
    .selectFrom('pledges')
    .select(['id', 'payment_intent_id', 'amount_captured', 'amount_refunded', 'processing_fee'])
    .where('campaign_id', '=', campaignId)
    .where('amount_captured', '>', 0)
    .execute();
  let captured = 0;
  let refunded = 0;
  let fees = 0;
  for (const pledge of pledges) {
    if (!pledge.payment_intent_id) continue;
    const intent = await stripe.paymentIntents.retrieve(pledge.payment_intent_id, { expand: ['latest_charge.balance_transaction'] });
    const charge = intent.latest_charge as Stripe.Charge | null;
    captured += intent.amount_received;
    refunded += charge?.amount_refunded ?? 0;
    const balance = charge?.balance_transaction;
    fees += balance && typeof balance !== 'string' ? balance.fee : 0;
  }
  const ours = pledges.reduce(
    (sum, pledge) => ({ captured: sum.captured + pledge.amount_captured, refunded: sum.refunded + pledge.amount_refunded, fees: sum.fees + pledge.processing_fee }),
    { captured: 0, refunded: 0, fees: 0 },
  );
  const checks = [
    check('Stripe captured = pledges captured', captured, ours.captured),
    check('Stripe refunded = pledges refunded', refunded, ours.refunded),
    check('Stripe fees = pledges processing fees', fees, ours.fees),
  ];
  if (transferId) {
    const transfer = await stripe.transfers.retrieve(transferId);
    const ledger = await ledgerTotals(db, campaignId);
    checks.push(check('Stripe transfer net of reversals = ledger', transfer.amount - transfer.amount_reversed, ledger.transfer - ledger.transfer_reversal));
  }
  return checks;
}
