/** `npm run reconcile -- --campaign <id>`: prints where a campaign's money went; exits 1 if anything disagrees. */
import { parseArgs } from 'node:util';
import { AppDatabase } from '../../db/database';
import { loadConfig } from '../config';
import { fromMinorUnits } from '../money';
import { createStripeClient } from '../payments/stripe-client';
import { reconcileCampaign } from '../reconciliation/reconcile';
import { runCli, UsageError } from './run';

runCli(async () => {
  const { values } = parseArgs({ options: { campaign: { type: 'string' } }, strict: true });
  if (!values.campaign) throw new UsageError('usage: npm run reconcile -- --campaign <campaign id>');
  const config = loadConfig();
  const database = new AppDatabase({ connectionString: config.database.url, applicationName: 'crowdfund-reconcile' });
  try {
    const stripe = config.stripe.secretKey
      ? createStripeClient({ secretKey: config.stripe.secretKey, ...(config.stripe.apiBase ? { apiBase: config.stripe.apiBase } : {}) })
      : undefined;
    const report = await reconcileCampaign(database.db, values.campaign, stripe);
    const money = (minor: number) => `${fromMinorUnits(minor, report.currency)} ${report.currency}`;
    const { breakdown } = report;
    console.log(`campaign ${report.campaignId}`);
    console.log(`  captured - refunded  ${money(breakdown.netCollected)}`);
    console.log(`  = transferred        ${money(breakdown.transferred)}`);
    console.log(`  + commission         ${money(breakdown.commission)}`);
    console.log(`  + processing fees    ${money(breakdown.processingFees)}`);
    console.log(`  + held               ${money(breakdown.held)}`);
    for (const c of report.checks) {
      console.log(`  ${c.ok ? 'ok  ' : 'DIFF'} ${c.name}${c.ok ? '' : `: expected ${money(c.expected)}, found ${money(c.actual)} (difference ${c.actual - c.expected} minor units)`}`);
    }
    console.log(report.balanced ? 'balanced' : 'NOT BALANCED');
    if (!report.balanced) process.exitCode = 1;
    if (!stripe) console.log('(Stripe not configured: checked the database only)');
  } finally {
    await database.close();
  }
});
