/**
 * Creator updates (src/updates/): the creator posts one (Idempotency-Key required: a retried POST finds its update
 * and never mails twice), anyone lists and reads them (backers-only bodies hidden from who is not a backer, the
 * creator or staff), and the send to the backers runs as its own workflow, started once the update is stored.
 */
import { type RequestHandler, type Response, Router } from 'express';
import { z } from 'zod';
import { invalidField, notFound } from '../../errors';
import { CampaignUpdateSends } from '../../temporal/campaign-update-sends';
import { campaignForUpdates, postUpdate } from '../../updates/post-update';
import { campaignWithUpdates, updateReader } from '../../updates/readers';
import { campaignUpdateParams, campaignUpdatesParams, postUpdateBody, updateListQuery } from '../../updates/schemas';
import { UpdateSendStarter } from '../../updates/send-starter';
import { updateView } from '../../updates/views';
import { type ApiContext, optionalUser, requireUser, requireWorkflows } from '../context';
import { idempotent } from '../idempotency';

const listCursor = z.tuple([z.number().int().min(1)]);

/** The signed-in reader, if any, as requireUser sees them (so staff powers follow the same rules as elsewhere). */
const signedInReader = (res: Response) => (optionalUser(res) ? requireUser(res) : undefined);

export function campaignUpdateRoutes(context: ApiContext): Router {
  const db = context.database.db;
  const router = Router();
  const workflows = context.campaignWorkflows;
  const sends = workflows ? new CampaignUpdateSends(workflows.client, context.config) : undefined;
  context.updateSends ??= new UpdateSendStarter({ database: context.database, sends, logger: context.logger });
  const starter = context.updateSends;

  // Who may post, checked before the Idempotency-Key is claimed: anyone else is told so whatever they send.
  const creatorOnly: RequestHandler = async (req, res, next) => {
    const user = requireUser(res);
    const { id } = campaignUpdatesParams.parse(req.params);
    await campaignForUpdates(context.database, id, user);
    // Nothing would mail the update: refused before it is stored.
    requireWorkflows(context);
    // A retried POST is answered from its key's record; an update it left pending is started again meanwhile.
    starter.retryPending(await db.selectFrom('campaign_updates').selectAll().where('campaign_id', '=', id).where('send_status', '=', 'pending').execute());
    next();
  };

  router.post('/:id/updates', creatorOnly, idempotent(context), async (req, res) => {
    const user = requireUser(res);
    const { id } = campaignUpdatesParams.parse(req.params);
    const body = postUpdateBody.parse(req.body);
    const { update } = await postUpdate(context.database, {
      campaignId: id,
      author: user,
      update: body,
      // Checked by `idempotent`.
      requestKey: `${user.id}:${String(req.headers['idempotency-key'])}`,
    });
    // After the commit, so the workflow finds the row; a start that fails leaves it pending for a retry (202 anyway).
    const started = await starter.start(update);
    res.status(202).json(updateView(started, 'creator'));
  });

  router.get('/:id/updates', async (req, res) => {
    const user = signedInReader(res);
    const { id } = campaignUpdatesParams.parse(req.params);
    const query = updateListQuery.parse(req.query);
    let before: number | undefined;
    if (query.cursor) {
      try {
        [before] = listCursor.parse(JSON.parse(Buffer.from(query.cursor, 'base64url').toString()));
      } catch {
        throw invalidField('cursor', 'is not a cursor this API gave');
      }
    }
    const campaign = await campaignWithUpdates(db, id, user);
    const reader = await updateReader(db, campaign, user);
    const rows = await db
      .selectFrom('campaign_updates')
      .selectAll()
      .where('campaign_id', '=', campaign.id)
      .$if(before !== undefined, (q) => q.where('number', '<', before!))
      .orderBy('number', 'desc')
      .limit(query.limit + 1)
      .execute();
    const page = rows.slice(0, query.limit);
    starter.retryPending(page);
    const last = page.at(-1);
    const nextCursor = rows.length > query.limit && last ? Buffer.from(JSON.stringify([last.number])).toString('base64url') : null;
    res.json({ data: page.map((update) => updateView(update, reader)), nextCursor });
  });

  router.get('/:id/updates/:updateId', async (req, res) => {
    const user = signedInReader(res);
    const { id, updateId } = campaignUpdateParams.parse(req.params);
    const campaign = await campaignWithUpdates(db, id, user);
    const update = await db.selectFrom('campaign_updates').selectAll().where('id', '=', updateId).where('campaign_id', '=', campaign.id).executeTakeFirst();
    if (!update) throw notFound('Update');
    starter.retryPending([update]);
    res.json(updateView(update, await updateReader(db, campaign, user)));
  });

  return router;
}
