/**
 * A reconciliation report as people read it: amounts as decimal strings in the campaign's currency (the API's
 * convention), and the lines `npm run reconcile`, `npm run demo` and ops staff print.
 */
import { fromMinorUnits } from '../money';
import { type ReconciliationReport } from './reconcile';

export interface ReconciliationView {
  campaignId: string;
  currency: string;
  breakdown: Record<keyof ReconciliationReport['breakdown'], string>;
  checks: Array<{ name: string; ok: boolean; expected: string; actual: string }>;
  balanced: boolean;
}

export function reconciliationView(report: ReconciliationReport): ReconciliationView {
  const money = (minor: number) => fromMinorUnits(minor, report.currency);
  const { netCollected, transferred, commission, processingFees, held } = report.breakdown;
  return {
    campaignId: report.campaignId,
    currency: report.currency,
    breakdown: { netCollected: money(netCollected), transferred: money(transferred), commission: money(commission), processingFees: money(processingFees), held: money(held) },
    checks: report.checks.map((c) => ({ name: c.name, ok: c.ok, expected: money(c.expected), actual: money(c.actual) })),
    balanced: report.balanced,
  };
}

export function reconciliationLines(view: ReconciliationView): string[] {
  const money = (amount: string) => `${amount} ${view.currency}`;
  const { breakdown } = view;
  return [
    `campaign ${view.campaignId}`,
    `  captured - refunded  ${money(breakdown.netCollected)}`,
    `  = transferred        ${money(breakdown.transferred)}`,
    `  + commission         ${money(breakdown.commission)}`,
    `  + processing fees    ${money(breakdown.processingFees)}`,
    `  + held               ${money(breakdown.held)}`,
    ...view.checks.map((c) => `  ${c.ok ? 'ok  ' : 'DIFF'} ${c.name}${c.ok ? '' : `: expected ${money(c.expected)}, found ${money(c.actual)}`}`),
    view.balanced ? 'balanced' : 'NOT BALANCED',
  ];
}
