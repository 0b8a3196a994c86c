/**
 * The proof both settlement drills end with: a funded campaign's pledges were each collected exactly once, the
 * way their card allowed, the creator was paid once, and the campaign reconciles to the minor unit. (Here, not in
 * test/helpers: it uses jest's expect, and test/helpers is also built for the benchmarks.)
 */
import { type Pledge } from '../../db/schema';
import { reconcileCampaign } from '../../src/reconciliation/reconcile';
import { type CampaignState } from '../../workflows/messages';
import { type TestPlatform } from '../helpers/platform';
import { auditPayout, auditPledges, capturedOnce, expectedSettlement, observed } from '../helpers/settlement-audit';

export async function expectSettledOnce(
  p: TestPlatform,
  campaignId: string,
  state: CampaignState,
  /** Valid holds, captured; and pledges whose saved card was charged (lapsed holds, saved cards). */
  pledges: { held: Pledge[]; charged: Pledge[] },
): Promise<void> {
  const all = [...pledges.held, ...pledges.charged];
  const { captured, fees, commission, transfer } = expectedSettlement(all.map((pledge) => pledge.amount));
  expect(state).toMatchObject({
    outcome: 'funded',
    phase: 'done',
    totals: { captured },
    pledges: { captured: all.length, errored: 0, stuck: 0, dropped: 0, inFlight: 0 },
    payout: { state: 'paid', amount: transfer },
  });

  const db = p.testDb.database.db;
  const audit = await auditPledges(db, p.testStripe.standin, campaignId);
  expect(audit).toHaveLength(all.length);
  expect(audit.map(observed)).toEqual(audit.map(capturedOnce));
  const byId = new Map(audit.map((entry) => [entry.pledgeId, entry]));
  for (const pledge of pledges.held) expect(byId.get(pledge.id)).toMatchObject({ appliedCaptures: 1, appliedCharges: 0 });
  for (const pledge of pledges.charged) expect(byId.get(pledge.id)).toMatchObject({ appliedCaptures: 0, appliedCharges: 1 });

  const paid = await auditPayout(db, p.testStripe.standin, campaignId);
  expect(paid.transfers.map((transfer) => transfer.amount)).toEqual([transfer]);
  expect(paid).toMatchObject({ appliedTransferRequests: 1, ledgerTransfers: 1, ledgerTransferred: transfer });

  const report = await reconcileCampaign(db, campaignId, p.stripe);
  expect(report.checks.filter((check) => !check.ok)).toEqual([]);
  expect(report.balanced).toBe(true);
  expect(report.breakdown).toEqual({ netCollected: captured, transferred: transfer, commission, processingFees: fees, held: 0 });
}
