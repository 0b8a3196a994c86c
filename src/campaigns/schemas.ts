/**
 * The request shapes of the campaign API, in zod: the same objects validate requests and generate the OpenAPI
 * document. Rules that need the currency or the clock (money, dates) are checked in src/campaigns/validation.ts.
 */
import { z } from 'zod';
import { SUPPORTED_CURRENCIES } from '../money';

const decimal = z.string().regex(/^(0|[1-9][0-9]*)(\.[0-9]+)?$/, 'must be a decimal amount such as "1500.00"');
const slug = z.string().regex(/^[a-z0-9]+(-[a-z0-9]+)*$/, 'lowercase letters, digits and single dashes').max(80);
const timestamp = z.iso.datetime({ offset: true });

/**
 * A string the API stores or hands to a workflow that stores it: Postgres `text` cannot hold U+0000, so the insert
 * would fail (a 500, or an activity retrying for ever). Every free-text field of a request is built from this.
 */
export const text = () => z.string().refine((value) => !value.includes('\u0000'), 'must not contain the NUL character (U+0000)');

export const campaignFields = {
  title: text().trim().min(3).max(120),
  slug: slug.optional(),
  description: text().max(10_000).optional(),
  goalAmount: decimal,
  currency: z.enum([...SUPPORTED_CURRENCIES] as [string, ...string[]]),
  model: z.enum(['aon', 'kia', 'hybrid']),
  startsAt: timestamp,
  endsAt: timestamp,
  refundTerms: text().trim().min(1).max(5_000).optional(),
  // No platformFeeBps: the platform sets its commission (PLATFORM_FEE_BPS, ops per campaign), never the creator, and
  // the strict bodies refuse it by name.
};

export const createCampaignBody = z.strictObject(campaignFields);
export const updateCampaignBody = z.strictObject(campaignFields).partial().refine((body) => Object.keys(body).length > 0, 'give at least one field to change');

export const rewardBody = z.strictObject({
  title: text().trim().min(1).max(120),
  description: text().max(5_000).optional(),
  minPledge: decimal,
  limitQty: z.number().int().min(1).max(1_000_000).optional(),
  // The ISO format allows year 0000; Postgres's calendar has none (1 BC precedes 1 AD) and refuses it.
  shipsAt: z.iso.date().refine((date) => !date.startsWith('0000-'), 'must be a date in year 1 or later').optional(),
});

export const stretchGoalBody = z.strictObject({
  title: text().trim().min(1).max(120),
  targetAmount: decimal,
});

export const campaignListQuery = z.object({
  status: z.enum(['draft', 'scheduled', 'active', 'settling', 'funded', 'failed', 'cancelled']).optional(),
  cursor: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
});

export const campaignIdOrSlugParams = z.object({ idOrSlug: text().min(1).max(80) });
export const campaignIdParam = z.object({ id: z.uuid() });

export type CreateCampaignBody = z.infer<typeof createCampaignBody>;
