/**
 * Stopping a campaign's update mails: anonymously with the signed token of a mail's link (POST /api/unsubscribe,
 * never a GET, which mail scanners follow), or signed in, per campaign (DELETE stops, PUT resumes). Each is
 * idempotent and answers what now holds.
 */
import { Router } from 'express';
import { DomainError } from '../../errors';
import { campaignWithUpdates } from '../../updates/readers';
import { unsubscribeBody, subscriptionParams } from '../../updates/schemas';
import { resubscribeToUpdates, unsubscribeFromUpdates } from '../../updates/subscriptions';
import { readUnsubscribeToken } from '../../updates/unsubscribe-token';
import { type ApiContext, requireUser } from '../context';

export function updateSubscriptionRoutes(context: ApiContext): Router {
  const db = context.database.db;
  const router = Router();

  router.post('/unsubscribe', async (req, res) => {
    const { token } = unsubscribeBody.parse(req.body);
    const signed = readUnsubscribeToken(context.config.auth.secret, token);
    if (!signed) {
      throw new DomainError('invalid', 'invalid_unsubscribe_token', 'This unsubscribe link is not valid; sign in to change your mail settings', {
        fields: [{ path: 'token', message: 'is not a link this platform sent' }],
      });
    }
    await unsubscribeFromUpdates(db, signed.userId, signed.campaignId);
    const campaign = await db.selectFrom('campaigns').select(['id', 'title']).where('id', '=', signed.campaignId).executeTakeFirst();
    res.json({ campaignId: signed.campaignId, campaignTitle: campaign?.title ?? null, subscribed: false });
  });

  router.delete('/me/subscriptions/:campaignId', async (req, res) => {
    const user = requireUser(res);
    const { campaignId } = subscriptionParams.parse(req.params);
    await campaignWithUpdates(db, campaignId, user);
    await unsubscribeFromUpdates(db, user.id, campaignId);
    res.json({ campaignId, subscribed: false });
  });

  router.put('/me/subscriptions/:campaignId', async (req, res) => {
    const user = requireUser(res);
    const { campaignId } = subscriptionParams.parse(req.params);
    await campaignWithUpdates(db, campaignId, user);
    await resubscribeToUpdates(db, user.id, campaignId);
    res.json({ campaignId, subscribed: true });
  });

  return router;
}
