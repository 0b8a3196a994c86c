/**
 * The signed link in every update mail that stops a campaign's update mails for one user, without signing in:
 * `<user id>.<campaign id>.<HMAC-SHA256>` keyed by the auth secret, with its own purpose string so that it can never
 * pass for another signed value. It does not expire (an unsubscribe link must keep working as long as mails that
 * carry it exist, and all it can do is stop mail); rotating AUTH_SECRET retires every link.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

const PURPOSE = 'campaign-updates-unsubscribe:v1';
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const TOKEN = new RegExp(`^(${UUID})\\.(${UUID})\\.([A-Za-z0-9_-]{43})$`);

function signature(secret: string, userId: string, campaignId: string): Buffer {
  return createHmac('sha256', secret).update(`${PURPOSE}:${userId}:${campaignId}`).digest();
}

export function unsubscribeToken(secret: string, userId: string, campaignId: string): string {
  return `${userId}.${campaignId}.${signature(secret, userId, campaignId).toString('base64url')}`;
}

/** The user and campaign a token was signed for; undefined for anything this platform did not sign. */
export function readUnsubscribeToken(secret: string, token: string): { userId: string; campaignId: string } | undefined {
  const match = TOKEN.exec(token);
  if (!match) return undefined;
  const [, userId, campaignId, given] = match as unknown as [string, string, string, string];
  // Compared as text: base64url's last character has spare bits, so decoding would let four spellings pass.
  const expected = Buffer.from(signature(secret, userId, campaignId).toString('base64url'));
  const presented = Buffer.from(given);
  if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) return undefined;
  return { userId, campaignId };
}
