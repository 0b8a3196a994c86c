/** `npm run reconcile -- --campaign <id>`: prints where a campaign's money went; exits 1 if anything disagrees. */
import { parseArgs } from 'node:util';
import { AppDatabase } from '../../db/database';
import { loadConfig } from '../config';
import { createStripeClient } from '../payments/stripe-client';
import { reconcileCampaign } from '../reconciliation/reconcile';
import { reconciliationLines, reconciliationView } from '../reconciliation/report';
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
    console.log(reconciliationLines(reconciliationView(report)).join('\n'));
    if (!report.balanced) process.exitCode = 1;
    if (!stripe) console.log('(Stripe not configured: checked the database only)');
  } finally {
    await database.close();
  }
});
