/**
 * The backer report: one CSV row per pledge of a campaign (who, email, reward, amount, status, when settled, how much
 * refunded) and then the answers to the campaign's surveys, a column per question and one per field of a shipping
 * address. Every pledge that was placed is in it, its status saying which to fulfil; pledges still being placed
 * (`pending`) and placements the card refused (`failed`) never were pledges and are left out.
 *
 * Rows come from a server-side cursor (DECLARE ... CURSOR, FETCH a batch at a time) in one read-only REPEATABLE READ
 * transaction, so the report is one consistent snapshot and memory stays flat whatever the number of pledges: each
 * batch is written before the next is fetched, and `write` waits while the client is slower than the database.
 * (kysely's `.stream()` would need the pg-cursor package and the dialect's `cursor` option; plain SQL needs neither.)
 */
import { sql } from 'kysely';
import { type AppDatabase, type Tx } from '../../db/database';
import { type Campaign, type PledgeStatus, type SurveyQuestion } from '../../db/schema';
import { fromMinorUnits } from '../money';
import { SHIPPING_ADDRESS_FIELDS } from '../surveys/questions';
import { csvRecord } from './csv';

export const BACKER_REPORT_BATCH_SIZE = 500;
/** A client that stops reading for this long loses its export, rather than hold a transaction open for ever. */
const IDLE_CLIENT_TIMEOUT = '2min';
const NEVER_PLEDGES = ['pending', 'failed'] as const satisfies readonly PledgeStatus[];
const CURSOR = 'backer_report';

const FIXED_HEADERS = ['Pledge ID', 'Backer name', 'Email', 'Reward', 'Amount', 'Currency', 'Pledge status', 'Settled at', 'Refunded'];
const ADDRESS_FIELD_LABELS: Record<(typeof SHIPPING_ADDRESS_FIELDS)[number], string> = {
  name: 'recipient',
  line1: 'address line 1',
  line2: 'address line 2',
  city: 'city',
  region: 'state/region',
  postalCode: 'postal code',
  country: 'country',
  phone: 'phone',
};

interface ReportRow {
  pledge_id: string;
  backer_name: string;
  email: string;
  reward_title: string | null;
  amount: number;
  currency: string;
  status: PledgeStatus;
  captured_at: Date | null;
  amount_refunded: number;
  survey_id: string | null;
  answers: Record<string, unknown> | null;
}

/** Where each survey's answers go: the first column of its questions, and how to read each column from its answers. */
interface SurveyColumns {
  first: number;
  cells: Array<(answers: Record<string, unknown>) => string>;
}

const asText = (value: unknown) => (typeof value === 'string' ? value : '');

async function surveyColumns(trx: Tx, campaignId: string): Promise<{ headers: string[]; bySurvey: Map<string, SurveyColumns> }> {
  const surveys = await trx
    .selectFrom('surveys')
    .leftJoin('rewards', 'rewards.id', 'surveys.reward_id')
    .select(['surveys.id', 'surveys.questions', 'rewards.title as reward_title'])
    .where('surveys.campaign_id', '=', campaignId)
    // The survey for backers without a reward first, then the rewards from the cheapest.
    .orderBy(sql`rewards.min_pledge nulls first`)
    .orderBy('surveys.created_at')
    .execute();
  const headers: string[] = [];
  const bySurvey = new Map<string, SurveyColumns>();
  for (const survey of surveys) {
    const label = survey.reward_title ?? 'No reward';
    const columns: SurveyColumns = { first: FIXED_HEADERS.length + headers.length, cells: [] };
    for (const question of survey.questions as SurveyQuestion[]) {
      if (question.kind === 'shipping_address') {
        for (const field of SHIPPING_ADDRESS_FIELDS) {
          headers.push(`${label}: ${question.prompt} (${ADDRESS_FIELD_LABELS[field]})`);
          columns.cells.push((answers) => asText((answers[question.id] as Record<string, unknown> | undefined)?.[field]));
        }
      } else {
        headers.push(`${label}: ${question.prompt}`);
        columns.cells.push((answers) => asText(answers[question.id]));
      }
    }
    bySurvey.set(survey.id, columns);
  }
  return { headers, bySurvey };
}

function reportQuery(trx: Tx, campaignId: string) {
  return trx
    .selectFrom('pledges')
    .innerJoin('users', 'users.id', 'pledges.backer_id')
    .leftJoin('rewards', 'rewards.id', 'pledges.reward_id')
    .leftJoin('surveys', (join) =>
      join.onRef('surveys.campaign_id', '=', 'pledges.campaign_id').on((eb) => eb('surveys.reward_id', 'is not distinct from', eb.ref('pledges.reward_id'))),
    )
    .leftJoin('survey_responses', (join) => join.onRef('survey_responses.survey_id', '=', 'surveys.id').onRef('survey_responses.pledge_id', '=', 'pledges.id'))
    .select([
      'pledges.id as pledge_id',
      'users.name as backer_name',
      'users.email',
      'rewards.title as reward_title',
      'pledges.amount',
      'pledges.currency',
      'pledges.status',
      'pledges.captured_at',
      'pledges.amount_refunded',
      'survey_responses.survey_id',
      'survey_responses.answers',
    ])
    .where('pledges.campaign_id', '=', campaignId)
    .where('pledges.status', 'not in', NEVER_PLEDGES)
    .orderBy('pledges.created_at')
    .orderBy('pledges.id');
}

/**
 * Writes the campaign's backer report through `write`, which resolves once the chunk may be followed by another (the
 * client has room) and rejects when the client is gone: the transaction then rolls back and the cursor closes.
 * Resolves with the number of pledge rows written.
 */
export async function writeBackerReport(
  database: AppDatabase,
  campaign: Pick<Campaign, 'id'>,
  write: (chunk: string) => Promise<void>,
  options: { batchSize?: number } = {},
): Promise<number> {
  const batchSize = options.batchSize ?? BACKER_REPORT_BATCH_SIZE;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, not ${batchSize}`);
  return database.db
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute(async (trx) => {
      await sql`set transaction read only`.execute(trx);
      await sql`set local idle_in_transaction_session_timeout = ${sql.lit(IDLE_CLIENT_TIMEOUT)}`.execute(trx);
      const { headers, bySurvey } = await surveyColumns(trx, campaign.id);
      const width = FIXED_HEADERS.length + headers.length;
      // A byte-order mark, so that spreadsheets read the names as UTF-8.
      await write(`\uFEFF${csvRecord([...FIXED_HEADERS, ...headers])}`);

      await sql`declare ${sql.id(CURSOR)} no scroll cursor for ${reportQuery(trx, campaign.id)}`.execute(trx);
      let written = 0;
      for (;;) {
        const { rows } = await sql<ReportRow>`fetch forward ${sql.raw(String(batchSize))} from ${sql.id(CURSOR)}`.execute(trx);
        if (rows.length === 0) break;
        let chunk = '';
        for (const row of rows) chunk += csvRecord(reportCells(row, width, bySurvey));
        await write(chunk);
        written += rows.length;
      }
      await sql`close ${sql.id(CURSOR)}`.execute(trx);
      return written;
    });
}

function reportCells(row: ReportRow, width: number, bySurvey: Map<string, SurveyColumns>): string[] {
  const cells = new Array<string>(width).fill('');
  cells[0] = row.pledge_id;
  cells[1] = row.backer_name;
  cells[2] = row.email;
  cells[3] = row.reward_title ?? '';
  cells[4] = fromMinorUnits(row.amount, row.currency);
  cells[5] = row.currency;
  cells[6] = row.status;
  cells[7] = row.captured_at ? row.captured_at.toISOString() : '';
  cells[8] = fromMinorUnits(row.amount_refunded, row.currency);
  const columns = row.survey_id === null ? undefined : bySurvey.get(row.survey_id);
  if (columns && row.answers) columns.cells.forEach((cell, index) => (cells[columns.first + index] = cell(row.answers!)));
  return cells;
}
