/**
 * The demo's backer survey (issue #21): after the payout, the creator asks the backers who chose no reward where to
 * ship a thank-you card and which colour they like, and sends the survey; its invitations workflow queues one mail
 * per settled backer (looked up in the outbox, which is what the demo can see of mail); the backer reads the
 * questions and answers them through the API; the creator's counts show the answer (the answers themselves are in
 * the backer report, GET /api/campaigns/:id/backers.csv). Every step checks what it shows.
 */
import { AppDatabase } from '../../db/database';
import { type PlatformFile } from '../cli/platform-file';
import { type ApiClient } from './api-client';

interface SurveyView {
  id: string;
  status: string;
  questions: Array<{ id: string; kind: string; prompt: string; options?: string[] }>;
  counts: { backers: number; answered: number; unanswered: number };
}
interface BackerSurveyView {
  survey: { id: string; status: string; questions: SurveyView['questions'] };
  answers: Record<string, unknown> | null;
  editable: boolean;
}

export interface SurveyStepInput {
  platform: PlatformFile;
  creator: { name: string; api: ApiClient };
  /** A backer of the campaign without a reward whose pledge was collected. */
  backer: { name: string; api: ApiClient };
  pledgeId: string;
  campaign: { id: string; title: string };
  step: (title: string) => void;
  say: (line: string) => void;
}

const POLL_MS = 250;

export async function surveyStep(input: SurveyStepInput): Promise<void> {
  const { platform, creator, backer, pledgeId, campaign, step, say } = input;
  const path = `/api/campaigns/${campaign.id}/surveys`;
  step(`${creator.name} surveys the backers of "${campaign.title}" who chose no reward; ${backer.name} answers`);
  const draft = await creator.api.post<SurveyView>(path, {
    rewardId: null,
    questions: [
      { id: 'card_to', kind: 'shipping_address', prompt: 'Where should we post your thank-you card?', required: true },
      { id: 'colour', kind: 'choice', prompt: 'Which kettle colour should we make next?', options: ['Copper', 'Sage', 'Slate'], required: true },
    ],
  });
  say(`POST ${path}: survey ${draft.id} (${draft.status}): ${draft.questions.map((question) => `${question.kind} "${question.prompt}"`).join(', ')}`);
  const sent = await creator.api.post<SurveyView>(`${path}/${draft.id}/send`);
  check(sent.status === 'sent', `the survey should be sent, it is ${sent.status}`);
  say(`POST ${path}/:id/send: ${sent.status} to ${sent.counts.backers} settled backer${sent.counts.backers === 1 ? '' : 's'}; reminders follow every 2 days until answered or locked`);

  const database = new AppDatabase({ connectionString: platform.databaseUrl, poolSize: 1, applicationName: 'crowdfund-demo' });
  try {
    const invitation = await waitFor(`${backer.name}'s survey invitation in the outbox`, () =>
      database.db.selectFrom('notifications').select(['template', 'payload']).where('dedupe_key', '=', `survey-${draft.id}-pledge-${pledgeId}`).executeTakeFirst(),
    );
    say(`the invitations workflow queued ${backer.name}'s mail (${invitation.template}): ${String((invitation.payload as { surveyUrl?: unknown }).surveyUrl)}`);
  } finally {
    await database.close();
  }

  const mine = await backer.api.get<BackerSurveyView>(`/api/pledges/${pledgeId}/survey`);
  check(mine.editable && mine.answers === null, `${backer.name} should be able to answer: ${JSON.stringify(mine)}`);
  const answered = await backer.api.request<BackerSurveyView>('PUT', `/api/pledges/${pledgeId}/survey`, {
    answers: { card_to: { name: backer.name, line1: '1 Kettle Lane', city: 'Bristol', postalCode: 'BS1 4DJ', country: 'gb' }, colour: 'Sage' },
  });
  const address = answered.answers?.card_to as { country?: string } | undefined;
  check(address?.country === 'GB', `the country should be stored as its ISO code: ${JSON.stringify(answered.answers)}`);
  say(`PUT /api/pledges/:id/survey: ${backer.name} answers (address in ${address.country}, colour ${String(answered.answers?.colour)}); answers can change until the survey is locked`);

  const counted = await creator.api.get<SurveyView>(`${path}/${draft.id}`);
  check(counted.counts.answered === 1, `the creator should see 1 answer: ${JSON.stringify(counted.counts)}`);
  say(`GET ${path}/:id: ${counted.counts.answered} answered, ${counted.counts.unanswered} to go; the answers are columns of GET /api/campaigns/:id/backers.csv`);
}

function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`demo: ${message}`);
}

async function waitFor<T>(what: string, find: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await find();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`demo: gave up waiting for ${what} after ${Math.round(timeoutMs / 1000)} s`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
