/**
 * The request shapes of the updates API, in zod: the same objects validate requests and make the OpenAPI document.
 * The body is markdown, stored as written and never rendered to HTML here (the web frontend renders and sanitizes
 * it; mails carry it as plain text). Limits: a title fits a mail subject, a body a long Kickstarter update.
 */
import { z } from 'zod';
import { text } from '../campaigns/schemas';

export const UPDATE_TITLE_MAX = 200;
export const UPDATE_BODY_MAX = 20_000;

export const postUpdateBody = z.strictObject({
  // It becomes a mail subject: no line breaks or other control characters.
  title: text()
    .trim()
    .min(1)
    .max(UPDATE_TITLE_MAX)
    .refine((value) => !/\p{Cc}/u.test(value), 'must not contain line breaks or other control characters'),
  body: text()
    .max(UPDATE_BODY_MAX)
    .refine((value) => value.trim().length > 0, 'must not be empty'),
  /** public: anyone reads it; backers: only backers, the creator and staff read its body (others see its title). */
  audience: z.enum(['public', 'backers']),
});

export const campaignUpdatesParams = z.object({ id: z.uuid() });
export const campaignUpdateParams = z.object({ id: z.uuid(), updateId: z.uuid() });

export const updateListQuery = z.object({
  cursor: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(50).default(20),
});

export const unsubscribeBody = z.strictObject({ token: text().min(1).max(300) });
export const subscriptionParams = z.object({ campaignId: z.uuid() });

export type PostUpdateBody = z.infer<typeof postUpdateBody>;
