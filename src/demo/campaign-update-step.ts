/**
 * The demo's creator updates (issue #21): after the payout, the creator posts a backers-only update; its send
 * workflow queues one mail per backer in the outbox, which the platform's outbox workflow delivers; a stranger sees
 * the update's title but not its body, a backer reads it, and the backer's mail (looked up in the outbox, which is
 * what the demo can see of mail) carries the signed link that unsubscribes them from this campaign's updates.
 */
import { randomUUID } from 'node:crypto';
import { AppDatabase } from '../../db/database';
import { type PlatformFile } from '../cli/platform-file';
import { renderNotification } from '../notifications/templates';
import { type ApiClient } from './api-client';

interface UpdateView {
  id: string;
  number: number;
  title: string;
  audience: string;
  body: string | null;
  bodyHidden: boolean;
  delivery?: { status: string; recipientsQueued: number; pagesQueued: number; workflowId: string };
}

export interface CampaignUpdateStepInput {
  platform: PlatformFile;
  /** Signed out. */
  anyone: ApiClient;
  creator: { name: string; api: ApiClient };
  /** A backer of the campaign whose pledge still stands. */
  backer: { id: string; name: string; api: ApiClient };
  campaign: { id: string; title: string };
  step: (title: string) => void;
  say: (line: string) => void;
}

const POLL_MS = 250;

export async function campaignUpdateStep(input: CampaignUpdateStepInput): Promise<void> {
  const { platform, anyone, creator, backer, campaign, step, say } = input;
  const path = `/api/campaigns/${campaign.id}/updates`;
  step(`${creator.name} posts an update for the backers of "${campaign.title}"; a workflow mails each of them once`);
  const posted = await creator.api.post<UpdateView>(
    path,
    { title: 'The first kettles have shipped', body: '## On their way\n\nThe **first batch** left the factory today. Tracking numbers follow in the survey.', audience: 'backers' },
    { 'idempotency-key': randomUUID() },
  );
  say(`POST ${path}: update #${posted.number} "${posted.title}" (${posted.audience} only), send workflow ${posted.delivery?.workflowId}`);
  const sent = await waitFor('the update to be queued for every backer', async () => {
    const update = await creator.api.get<UpdateView>(`${path}/${posted.id}`);
    return update.delivery?.status === 'sent' ? update : undefined;
  });
  const { recipientsQueued, pagesQueued } = sent.delivery!;
  say(`queued in the outbox for ${recipientsQueued} backers in ${pagesQueued} page${pagesQueued === 1 ? '' : 's'} (one transaction each)`);

  const listed = (await anyone.get<{ data: UpdateView[] }>(path)).data.find((update) => update.id === posted.id);
  check(listed?.bodyHidden === true && listed.body === null, `a stranger should see the update's title only: ${JSON.stringify(listed)}`);
  const read = await backer.api.get<UpdateView>(`${path}/${posted.id}`);
  check(read.body !== null && read.body.includes('first batch'), `${backer.name} should read the update's body`);
  say(`GET ${path}: a stranger sees "${listed.title}" with its body hidden; ${backer.name}, a backer, reads the markdown`);

  const database = new AppDatabase({ connectionString: platform.databaseUrl, poolSize: 1, applicationName: 'crowdfund-demo' });
  try {
    const mail = await waitFor(`${backer.name}'s mail to leave the outbox`, async () => {
      const row = await database.db
        .selectFrom('notifications')
        .select(['template', 'payload', 'sent_at'])
        .where('dedupe_key', '=', `update-${posted.id}-${backer.id}`)
        .executeTakeFirst();
      return row?.sent_at ? row : undefined;
    });
    const payload = mail.payload as Record<string, unknown>;
    const { subject } = renderNotification('campaign_update', payload);
    say(`${backer.name}'s mail, delivered by the outbox at ${mail.sent_at!.toISOString()}: "${subject}"`);
    const token = new URL(String(payload.unsubscribeUrl)).searchParams.get('token');
    const unsubscribed = await anyone.post<{ subscribed: boolean }>('/api/unsubscribe', { token });
    check(!unsubscribed.subscribed, `${backer.name} should be unsubscribed`);
    say(`${backer.name} follows the mail's signed link (POST /api/unsubscribe): no more update mails from "${campaign.title}", other mail unchanged`);
  } finally {
    await database.close();
  }
}

function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`demo: ${message}`);
}

async function waitFor<T>(what: string, poll: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await poll();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`demo: gave up waiting for ${what} after ${Math.round(timeoutMs / 1000)} s`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
