/**
 * A reconciliation report as people read it: amounts as decimal strings, each in its own currency (the campaign's
 * for what backers paid, the platform's settlement currency for the invariant; the API's convention), and the lines
 * `npm run reconcile`, `npm run demo` and ops staff print.
 */
import { fromMinorUnits } from '../money';
import { type ReconciliationReport } from './reconcile';

export interface ReconciliationView {
  campaignId: string;
  currency: string;
  settlementCurrency: string;
  /** In the campaign's currency. */
  presentment: Record<keyof ReconciliationReport['presentment'], string>;
  /** In the settlement currency. */
  breakdown: Record<keyof ReconciliationReport['breakdown'], string>;
  /** In the settlement currency: what chargebacks took (withdrawn - reinstated + Stripe's dispute fees), and what
   * was captured less refunded before them; `breakdown.netCollected` is the difference. */
  chargebacks: { taken: string; capturedLessRefunded: string };
  checks: Array<{ name: string; ok: boolean; currency: string | null; expected: string; actual: string }>;
  balanced: boolean;
}

export function reconciliationView(report: ReconciliationReport): ReconciliationView {
  const inCurrency = (currency: string | null) => (minor: number) => (currency ? fromMinorUnits(minor, currency) : String(minor));
  const shown = inCurrency(report.currency);
  const settled = inCurrency(report.settlementCurrency);
  const { netCollected, transferred, commission, processingFees, held } = report.breakdown;
  const { captured, refunded } = report.presentment;
  const chargebacks = report.ledger.dispute_withdrawal - report.ledger.dispute_reinstatement + report.ledger.dispute_fee;
  return {
    campaignId: report.campaignId,
    currency: report.currency,
    settlementCurrency: report.settlementCurrency,
    presentment: { captured: shown(captured), refunded: shown(refunded), netCollected: shown(report.presentment.netCollected) },
    breakdown: { netCollected: settled(netCollected), transferred: settled(transferred), commission: settled(commission), processingFees: settled(processingFees), held: settled(held) },
    chargebacks: { taken: settled(chargebacks), capturedLessRefunded: settled(netCollected + chargebacks) },
    checks: report.checks.map((c) => ({ name: c.name, ok: c.ok, currency: c.currency, expected: inCurrency(c.currency)(c.expected), actual: inCurrency(c.currency)(c.actual) })),
    balanced: report.balanced,
  };
}

export function reconciliationLines(view: ReconciliationView): string[] {
  const shown = (amount: string) => `${amount} ${view.currency}`;
  const settled = (amount: string) => `${amount} ${view.settlementCurrency}`;
  const { breakdown, presentment } = view;
  return [
    `campaign ${view.campaignId}`,
    `  backers paid         ${shown(presentment.captured)}`,
    `  refunded to backers  ${shown(presentment.refunded)}`,
    ...(view.settlementCurrency === view.currency ? [] : [`  settled in ${view.settlementCurrency}:`]),
    `  captured - refunded  ${settled(view.chargebacks.capturedLessRefunded)}`,
    // The net collected is after chargebacks: their line only when there were any.
    ...(view.chargebacks.capturedLessRefunded === breakdown.netCollected ? [] : [`  - chargebacks        ${settled(view.chargebacks.taken)}`]),
    `  = transferred        ${settled(breakdown.transferred)}`,
    `  + commission         ${settled(breakdown.commission)}`,
    `  + processing fees    ${settled(breakdown.processingFees)}`,
    `  + held               ${settled(breakdown.held)}`,
    ...view.checks.map((c) => {
      const amount = (value: string) => (c.currency ? `${value} ${c.currency}` : value);
      return `  ${c.ok ? 'ok  ' : 'DIFF'} ${c.name}${c.ok ? '' : `: expected ${amount(c.expected)}, found ${amount(c.actual)}`}`;
    }),
    view.balanced ? 'balanced' : 'NOT BALANCED',
  ];
}
