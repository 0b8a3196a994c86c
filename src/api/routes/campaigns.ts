/**
 * Creators build campaigns here (drafts, rewards, stretch goals); anyone reads published ones. Publishing and
 * cancelling are in campaign-lifecycle.ts.
 */
import { randomBytes } from 'node:crypto';
import { Router, type Response } from 'express';
import { sql } from 'kysely';
import { z } from 'zod';
import { type Campaign, type NewCampaign, type User } from '../../../db/schema';
import { slugify } from '../../campaigns/slug';
import { chargeableAmount, checkCampaign } from '../../campaigns/validation';
import {
  campaignIdOrSlugParams,
  campaignIdParam,
  campaignListQuery,
  createCampaignBody,
  rewardBody,
  stretchGoalBody,
  updateCampaignBody,
  type CreateCampaignBody,
} from '../../campaigns/schemas';
import { tallyPledges } from '../../campaigns/tally';
import { campaignDetailView, campaignView, rewardView, stretchGoalView } from '../../campaigns/views';
import { fromMinorUnits } from '../../money';
import { type ApiContext, optionalUser, requireUser } from '../context';
import { conflict, forbidden, invalidField, notFound, unprocessable } from '../../errors';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// What nextCursor holds: created_at as toISOString() writes it, and the id. Not Date.parse: it also takes years
// Postgres cannot store ("-004713-11-23T..."), and the query would fail.
const keysetCursor = z.tuple([z.iso.datetime(), z.string().regex(UUID)]);

function isUniqueViolation(error: unknown, constraint: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: string }).code === '23505' && (error as { constraint?: string }).constraint === constraint;
}

export function campaignRoutes(context: ApiContext): Router {
  const { config } = context;
  const db = context.database.db;
  const router = Router();

  /** A campaign the caller may see: drafts exist only for their creator. */
  async function visibleCampaign(idOrSlug: string, user: User | undefined): Promise<Campaign> {
    const campaign = await db
      .selectFrom('campaigns')
      .selectAll()
      .where(UUID.test(idOrSlug) ? 'id' : 'slug', '=', idOrSlug)
      .executeTakeFirst();
    if (!campaign || (campaign.status === 'draft' && campaign.creator_id !== user?.id)) throw notFound('Campaign');
    return campaign;
  }

  /** The caller's own draft, for changes. */
  async function ownDraft(res: Response, id: string): Promise<Campaign> {
    const user = requireUser(res);
    const campaign = await visibleCampaign(id, user);
    if (campaign.creator_id !== user.id) throw forbidden('Only the creator can change this campaign');
    if (campaign.status !== 'draft') throw conflict('campaign_not_draft', `A ${campaign.status} campaign can no longer be changed`);
    return campaign;
  }

  async function insertWithSlug(values: Omit<NewCampaign, 'slug'>, body: CreateCampaignBody): Promise<Campaign> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const slug = body.slug ?? (attempt === 0 ? slugify(body.title) : `${slugify(body.title).slice(0, 52)}-${randomBytes(3).toString('hex')}`);
      try {
        return await db.insertInto('campaigns').values({ ...values, slug }).returningAll().executeTakeFirstOrThrow();
      } catch (error) {
        if (!isUniqueViolation(error, 'campaigns_slug_key')) throw error;
        if (body.slug) throw conflict('slug_taken', `The slug "${body.slug}" is taken`);
      }
    }
    throw conflict('slug_taken', 'Could not find a free slug for this title; give one');
  }

  router.post('/', async (req, res) => {
    const user = requireUser(res);
    const body = createCampaignBody.parse(req.body);
    const checked = checkCampaign(body, config);
    const campaign = await insertWithSlug(
      {
        creator_id: user.id,
        title: body.title,
        description: body.description ?? '',
        goal_amount: checked.goalAmount,
        currency: body.currency,
        model: body.model,
        starts_at: checked.startsAt,
        ends_at: checked.endsAt,
        refund_terms: body.refundTerms ?? null,
        platform_fee_bps: config.campaigns.platformFeeBps,
      },
      body,
    );
    res.status(201).json(campaignView(campaign));
  });

  router.patch('/:id', async (req, res) => {
    const { id } = campaignIdParam.parse(req.params);
    const changes = updateCampaignBody.parse(req.body);
    const campaign = await ownDraft(res, id);
    const merged: CreateCampaignBody = {
      title: changes.title ?? campaign.title,
      slug: changes.slug ?? campaign.slug,
      description: changes.description ?? campaign.description,
      goalAmount: changes.goalAmount ?? fromMinorUnits(campaign.goal_amount, campaign.currency),
      currency: changes.currency ?? campaign.currency,
      model: changes.model ?? campaign.model,
      startsAt: changes.startsAt ?? campaign.starts_at.toISOString(),
      endsAt: changes.endsAt ?? campaign.ends_at.toISOString(),
      ...(changes.refundTerms ?? campaign.refund_terms ? { refundTerms: (changes.refundTerms ?? campaign.refund_terms)! } : {}),
    };
    const checked = checkCampaign(merged, config);
    try {
      const updated = await db
        .updateTable('campaigns')
        .set({
          title: merged.title,
          slug: merged.slug!,
          description: merged.description ?? '',
          goal_amount: checked.goalAmount,
          currency: merged.currency,
          model: merged.model,
          starts_at: checked.startsAt,
          ends_at: checked.endsAt,
          refund_terms: merged.refundTerms ?? null,
          updated_at: new Date(),
        })
        .where('id', '=', campaign.id)
        .where('status', '=', 'draft')
        .returningAll()
        .executeTakeFirst();
      if (!updated) throw conflict('campaign_not_draft', 'The campaign was published meanwhile');
      res.json(campaignView(updated));
    } catch (error) {
      if (isUniqueViolation(error, 'campaigns_slug_key')) throw conflict('slug_taken', `The slug "${merged.slug}" is taken`);
      throw error;
    }
  });

  router.post('/:id/rewards', async (req, res) => {
    const { id } = campaignIdParam.parse(req.params);
    const body = rewardBody.parse(req.body);
    const campaign = await ownDraft(res, id);
    const minPledge = chargeableAmount('minPledge', body.minPledge, campaign.currency);
    const reward = await db
      .insertInto('rewards')
      .values({
        campaign_id: campaign.id,
        title: body.title,
        description: body.description ?? '',
        min_pledge: minPledge,
        limit_qty: body.limitQty ?? null,
        ships_at: body.shipsAt ?? null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    res.status(201).json(rewardView(reward, campaign.currency));
  });

  router.post('/:id/stretch-goals', async (req, res) => {
    const { id } = campaignIdParam.parse(req.params);
    const body = stretchGoalBody.parse(req.body);
    const campaign = await ownDraft(res, id);
    if (campaign.model !== 'hybrid') throw unprocessable('stretch_goals_need_hybrid', 'Only hybrid campaigns have stretch goals');
    const target = chargeableAmount('targetAmount', body.targetAmount, campaign.currency);
    if (target <= campaign.goal_amount) throw invalidField('targetAmount', `must be above the goal (${fromMinorUnits(campaign.goal_amount, campaign.currency)})`);
    const highest = await db
      .selectFrom('stretch_goals')
      .select(sql<number | null>`max(target_amount)`.as('target'))
      .where('campaign_id', '=', campaign.id)
      .executeTakeFirstOrThrow();
    if (highest.target !== null && target <= Number(highest.target)) {
      throw invalidField('targetAmount', `must be above the last stretch goal (${fromMinorUnits(Number(highest.target), campaign.currency)})`);
    }
    const goal = await db
      .insertInto('stretch_goals')
      .values({ campaign_id: campaign.id, title: body.title, target_amount: target })
      .returningAll()
      .executeTakeFirstOrThrow();
    res.status(201).json(stretchGoalView(goal, campaign.currency));
  });

  router.get('/', async (req, res) => {
    const user = optionalUser(res);
    const query = campaignListQuery.parse(req.query);
    let after: [string, string] | undefined;
    if (query.cursor) {
      try {
        after = keysetCursor.parse(JSON.parse(Buffer.from(query.cursor, 'base64url').toString()));
      } catch {
        throw invalidField('cursor', 'is not a cursor this API gave');
      }
    }
    let select = db.selectFrom('campaigns').selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').limit(query.limit + 1);
    if (query.status) select = select.where('status', '=', query.status);
    select = select.where((eb) => eb.or([eb('status', '<>', 'draft'), eb('creator_id', '=', user?.id ?? '00000000-0000-0000-0000-000000000000')]));
    if (after) {
      const [createdAt, id] = after;
      select = select.where((eb) => eb.or([eb('created_at', '<', new Date(createdAt)), eb.and([eb('created_at', '=', new Date(createdAt)), eb('id', '<', id)])]));
    }
    const rows = await select.execute();
    const page = rows.slice(0, query.limit);
    const last = page[page.length - 1];
    const nextCursor = rows.length > query.limit && last ? Buffer.from(JSON.stringify([last.created_at.toISOString(), last.id])).toString('base64url') : null;
    res.json({ data: page.map(campaignView), nextCursor });
  });

  router.get('/:idOrSlug', async (req, res) => {
    const { idOrSlug } = campaignIdOrSlugParams.parse(req.params);
    const campaign = await visibleCampaign(idOrSlug, optionalUser(res));
    const [tally, rewards, stretchGoals] = await Promise.all([
      tallyPledges(db, campaign.id),
      db.selectFrom('rewards').selectAll().where('campaign_id', '=', campaign.id).orderBy('min_pledge').orderBy('id').execute(),
      db.selectFrom('stretch_goals').selectAll().where('campaign_id', '=', campaign.id).orderBy('target_amount').execute(),
    ]);
    res.json(campaignDetailView(campaign, tally, rewards, stretchGoals));
  });

  router.get('/:id/stats', async (req, res) => {
    const user = requireUser(res);
    const { id } = campaignIdParam.parse(req.params);
    const campaign = await visibleCampaign(id, user);
    if (campaign.creator_id !== user.id && user.role !== 'ops') throw forbidden('Only the creator and ops can see these figures');
    const counted = ['authorized', 'captured'] as const;
    const [perDay, perReward, tally] = await Promise.all([
      db
        .selectFrom('pledges')
        .select([sql<string>`to_char(date_trunc('day', created_at at time zone 'UTC'), 'YYYY-MM-DD')`.as('day'), sql<number>`sum(amount)`.as('raised'), sql<number>`count(*)`.as('pledges')])
        .where('campaign_id', '=', campaign.id)
        .where('status', 'in', counted)
        .groupBy(sql`1`)
        .orderBy(sql`1`)
        .execute(),
      db
        .selectFrom('pledges')
        .leftJoin('rewards', 'rewards.id', 'pledges.reward_id')
        .select(['pledges.reward_id', 'rewards.title', sql<number>`count(*)`.as('pledges'), sql<number>`sum(pledges.amount)`.as('raised')])
        .where('pledges.campaign_id', '=', campaign.id)
        .where('pledges.status', 'in', counted)
        .groupBy(['pledges.reward_id', 'rewards.title'])
        .execute(),
      tallyPledges(db, campaign.id),
    ]);
    const money = (minor: number) => fromMinorUnits(minor, campaign.currency);
    res.json({
      currency: campaign.currency,
      raised: money(tally.totalPledged),
      backers: tally.backers,
      averagePledge: tally.backers ? money(Math.round(tally.totalPledged / tally.backers)) : null,
      raisedPerDay: perDay.map((row) => ({ day: row.day, raised: money(Number(row.raised)), pledges: Number(row.pledges) })),
      pledgesPerReward: perReward.map((row) => ({ rewardId: row.reward_id, title: row.title, pledges: Number(row.pledges), raised: money(Number(row.raised)) })),
    });
  });

  return router;
}

