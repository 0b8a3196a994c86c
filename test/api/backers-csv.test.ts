/**
 * The backer report, `GET /api/campaigns/:id/backers.csv`, through HTTP on real Postgres: who may download it; one row
 * per pledge with money as decimal strings and the survey answers in their columns (a shipping address split into its
 * fields); RFC 4180 quoting that round-trips commas, quotes and line breaks; cells that a spreadsheet would run as a
 * formula neutralised; and a stream: the first bytes reach the client while the server's cursor is still open, the
 * server reads no further than the client, and it closes the cursor once the client has it all.
 */
import { once } from 'node:events';
import { get, type IncomingMessage, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { sql } from 'kysely';
import request from 'supertest';
import { csvCell } from '../../src/reports/csv';
import { campaignRow, createTestApi, type TestApi, tokenUser } from '../helpers/api';

type Caller = { id: string; auth: { Authorization: string } };
let api: TestApi;
let server: Server;
let baseUrl: string;

beforeAll(async () => {
  api = await createTestApi();
  server = api.app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await api.close();
});

const db = () => api.context.database.db;

async function staff(role: 'support' | 'ops'): Promise<Caller> {
  const user = await tokenUser(api, `Staff ${role}`);
  await db().updateTable('users').set({ role }).where('id', '=', user.id).execute();
  return user;
}

/** RFC 4180 as a spreadsheet reads it: quoted fields may hold commas, doubled quotes and line breaks. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (quoted && char === '"' && text[i + 1] === '"') {
      field += '"';
      i++;
    } else if (quoted && char === '"') {
      quoted = false;
    } else if (quoted) {
      field += char;
    } else if (char === '"' && field === '') {
      quoted = true;
    } else if (char === ',') {
      record.push(field);
      field = '';
    } else if (char === '\r' && text[i + 1] === '\n') {
      record.push(field);
      records.push(record);
      record = [];
      field = '';
      i++;
    } else {
      field += char;
    }
  }
  if (field !== '' || record.length > 0) throw new Error(`the report does not end with CRLF: ${JSON.stringify(text.slice(-40))}`);
  return records;
}

describe('csvCell', () => {
  it.each([
    ['plain', 'plain'],
    ['a, b', '"a, b"'],
    ['say "hi"', '"say ""hi"""'],
    ['two\r\nlines', '"two\r\nlines"'],
    ['=HYPERLINK("http://x")', `"'=HYPERLINK(""http://x"")"`],
    ['+1 555 0100', "'+1 555 0100"],
    ['-2+3', "'-2+3"],
    ['@SUM(A1)', "'@SUM(A1)"],
    ['\tcmd', "'\tcmd"],
    ['\rcmd', `"'\rcmd"`],
    ['a=b', 'a=b'],
    ['', ''],
  ])('writes %j as %j', (value, written) => {
    expect(csvCell(value)).toBe(written);
  });
});

describe('the report', () => {
  let creator: Caller;
  let campaign: Awaited<ReturnType<typeof campaignRow>>;

  beforeAll(async () => {
    creator = await tokenUser(api, 'Creator');
    campaign = await campaignRow(api, { creatorId: creator.id, status: 'funded', title: 'Lamp' });
  });

  it('is for the creator and staff: 401 anonymous, 403 backers and others, 404 on a draft for anyone but its creator', async () => {
    const backed = await campaignRow(api, { creatorId: creator.id, status: 'funded' });
    const backer = await tokenUser(api, 'Backer');
    await db().insertInto('pledges').values({ campaign_id: backed.id, backer_id: backer.id, amount: 1_000, currency: 'USD', status: 'captured' }).execute();
    const stranger = await tokenUser(api, 'Stranger');
    const callers: Record<string, Caller | undefined> = { anonymous: undefined, stranger, backer, support: await staff('support'), ops: await staff('ops'), creator };
    const statuses = async (campaignId: string) => {
      const result: Record<string, number> = {};
      for (const [who, caller] of Object.entries(callers)) {
        const test = request(api.app).get(`/api/campaigns/${campaignId}/backers.csv`);
        result[who] = (await (caller ? test.set(caller.auth) : test)).status;
      }
      return result;
    };
    expect(await statuses(backed.id)).toEqual({ anonymous: 401, stranger: 403, backer: 403, support: 200, ops: 200, creator: 200 });
    // Staff downloads of backers' personal data are audited; the creator's own are not staff actions.
    const exports = await db().selectFrom('staff_audit_log').select(['actor_id', 'actor_role']).where('action', '=', 'backer_report.exported').where('object_id', '=', backed.id).orderBy('id').execute();
    expect(exports).toEqual([
      { actor_id: callers.support!.id, actor_role: 'support' },
      { actor_id: callers.ops!.id, actor_role: 'ops' },
    ]);
    const draft = await campaignRow(api, { creatorId: creator.id, status: 'draft' });
    expect(await statuses(draft.id)).toEqual({ anonymous: 401, stranger: 404, backer: 404, support: 404, ops: 404, creator: 200 });
    expect((await statuses('00000000-0000-4000-8000-000000000000')).creator).toBe(404);
    await request(api.app).get('/api/campaigns/not-a-uuid/backers.csv').set(creator.auth).expect(400);
  });

  it('has a row per pledge, survey answers in columns, quoting that round-trips and no cell a spreadsheet would run', async () => {
    const [lamp, poster] = await db()
      .insertInto('rewards')
      .values([
        { campaign_id: campaign.id, title: 'Lamp, "deluxe"', min_pledge: 5_000 },
        { campaign_id: campaign.id, title: '=Poster', min_pledge: 1_000 },
      ])
      .returning('id')
      .execute();
    const backer = async (name: string, email: string) =>
      db().insertInto('users').values({ name, email, password_hash: 'x' }).returning('id').executeTakeFirstOrThrow();
    const capturedAt = new Date('2030-03-01T12:00:00.000Z');
    const pledge = async (backerId: string, values: Record<string, unknown>) =>
      db()
        .insertInto('pledges')
        .values({ campaign_id: campaign.id, backer_id: backerId, amount: 6_050, currency: 'USD', status: 'captured', amount_captured: 6_050, captured_at: capturedAt, ...values })
        .returning('id')
        .executeTakeFirstOrThrow();
    const ada = await backer('Ada, Countess of "Lovelace"', 'ada@example.com');
    const eve = await backer('=cmd|\' /C calc\'!A0', '@eve@example.com');
    const bob = await backer('Bob\nSecond line', 'bob@example.com');
    const ghost = await backer('Ghost', 'ghost@example.com');
    const adaPledge = await pledge(ada.id, { reward_id: lamp!.id, amount_refunded: 1_000 });
    const evePledge = await pledge(eve.id, { reward_id: lamp!.id });
    await pledge(bob.id, { reward_id: poster!.id, status: 'refunded', amount_refunded: 6_050 });
    // Never pledges: a placement in flight and one the card refused.
    await pledge(ghost.id, { status: 'pending', captured_at: null });
    await pledge((await backer('Declined', 'declined@example.com')).id, { status: 'failed', captured_at: null });

    const survey = await db()
      .insertInto('surveys')
      .values({
        campaign_id: campaign.id,
        reward_id: lamp!.id,
        status: 'sent',
        sent_at: new Date(),
        questions: JSON.stringify([
          { id: 'ship', kind: 'shipping_address', prompt: 'Ship to', required: true },
          { id: 'note', kind: 'text', prompt: 'Note', required: false },
        ]),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    await db()
      .insertInto('surveys')
      .values({ campaign_id: campaign.id, reward_id: poster!.id, questions: JSON.stringify([{ id: 'size', kind: 'choice', prompt: 'Size', options: ['A2', 'A3'], required: true }]) })
      .execute();
    const answers = (values: object) => JSON.stringify(values);
    await db()
      .insertInto('survey_responses')
      .values([
        {
          survey_id: survey.id,
          pledge_id: adaPledge.id,
          backer_id: ada.id,
          answers: answers({ ship: { name: 'Ada', line1: '12 St James Square', line2: 'Flat "B", 2nd floor', city: 'London', postalCode: 'SW1Y 4JH', country: 'GB', phone: '+44 20 7946 0000' }, note: '-leave at door' }),
        },
        { survey_id: survey.id, pledge_id: evePledge.id, backer_id: eve.id, answers: answers({ ship: { name: '@Eve', line1: '1 Main St', city: 'Springfield', region: 'IL', postalCode: '62701', country: 'US' } }) },
      ])
      .execute();

    const response = await request(api.app).get(`/api/campaigns/${campaign.id}/backers.csv`).set(creator.auth).buffer(true).parse((res, done) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => done(null, text));
    });
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('text/csv; charset=utf-8; header=present');
    expect(response.headers['content-disposition']).toBe(`attachment; filename="backers-${campaign.slug}-${new Date().toISOString().slice(0, 10)}.csv"`);
    const text = response.body as string;
    expect(text.startsWith('\uFEFF')).toBe(true);
    const [header, ...rows] = parseCsv(text.slice(1));
    const address = (field: string) => `Lamp, "deluxe": Ship to (${field})`;
    expect(header).toEqual([
      'Pledge ID', 'Backer name', 'Email', 'Reward', 'Amount', 'Currency', 'Pledge status', 'Settled at', 'Refunded',
      // The cheapest reward's survey first; a header a spreadsheet would run is neutralised too.
      "'=Poster: Size",
      address('recipient'), address('address line 1'), address('address line 2'), address('city'), address('state/region'), address('postal code'), address('country'), address('phone'),
      'Lamp, "deluxe": Note',
    ]);
    // One row per pledge that was placed, in the order they came.
    expect(rows.map((row) => row[1])).toEqual(['Ada, Countess of "Lovelace"', "'=cmd|' /C calc'!A0", 'Bob\nSecond line']);
    expect(rows[0]).toEqual([
      adaPledge.id, 'Ada, Countess of "Lovelace"', 'ada@example.com', 'Lamp, "deluxe"', '60.50', 'USD', 'captured', '2030-03-01T12:00:00.000Z', '10.00',
      '',
      'Ada', '12 St James Square', 'Flat "B", 2nd floor', 'London', '', 'SW1Y 4JH', 'GB', "'+44 20 7946 0000",
      "'-leave at door",
    ]);
    expect(rows[1]).toEqual([
      evePledge.id, "'=cmd|' /C calc'!A0", "'@eve@example.com", 'Lamp, "deluxe"', '60.50', 'USD', 'captured', '2030-03-01T12:00:00.000Z', '0.00',
      '',
      "'@Eve", '1 Main St', '', 'Springfield', 'IL', '62701', 'US', '',
      '',
    ]);
    expect(rows[2]!.slice(3, 10)).toEqual(["'=Poster", '60.50', 'USD', 'refunded', '2030-03-01T12:00:00.000Z', '60.50', '']);
    // No cell (after its quotes) begins with a formula character.
    for (const cell of [...header!, ...rows.flat()]) expect(cell).not.toMatch(/^[=+\-@\t\r]/);
  });
});

describe('streaming', () => {
  const ROWS = 20_000;
  let creator: Caller;
  let campaignId: string;

  beforeAll(async () => {
    creator = await tokenUser(api, 'Big creator');
    campaignId = (await campaignRow(api, { creatorId: creator.id, status: 'funded', title: 'Big' })).id;
    // Names of 200 characters: 20,000 rows make about 5 MB, more than the sockets between server and client hold.
    await sql`insert into users (id, email, name, password_hash)
              select md5('stream' || g)::uuid, 'stream' || g || '@example.com', repeat('n', 200), 'x' from generate_series(1, ${ROWS}) g`.execute(db());
    await sql`insert into pledges (campaign_id, backer_id, amount, currency, status, amount_captured, captured_at)
              select ${campaignId}::uuid, md5('stream' || g)::uuid, 1000 + g, 'USD', 'captured', 1000 + g, now() from generate_series(1, ${ROWS}) g`.execute(db());
  });

  /** The export sessions holding an open cursor, waiting for their client (seen from another connection). */
  const openCursors = async () =>
    Number(
      (
        await sql<{ count: number }>`select count(*)::int as count from pg_stat_activity
          where state = 'idle in transaction' and query like 'fetch forward % from "backer_report"'`.execute(db())
      ).rows[0]!.count,
    );

  /** When the one export waiting for its client started its latest FETCH (undefined while none waits). */
  const lastFetchStarted = async () =>
    (
      await sql<{ started: string }>`select query_start::text as started from pg_stat_activity
        where state = 'idle in transaction' and query like 'fetch forward % from "backer_report"'`.execute(db())
    ).rows[0]?.started;

  /** Starts a download and stops reading after the first chunk. */
  async function pausedDownload(): Promise<{ response: IncomingMessage; first: Buffer }> {
    const response = await new Promise<IncomingMessage>((resolve, reject) =>
      get(`${baseUrl}/api/campaigns/${campaignId}/backers.csv`, { headers: creator.auth }, resolve).on('error', reject),
    );
    expect(response.statusCode).toBe(200);
    const [first] = (await once(response, 'data')) as [Buffer];
    response.pause();
    return { response, first };
  }

  async function waitFor(what: string, check: () => Promise<boolean>) {
    // Up to 20 s: on a loaded machine the exports take a while to fill their clients' buffers.
    for (let i = 0; i < 400; i++) {
      if (await check()) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`gave up waiting for ${what}`);
  }

  it('sends the first bytes while the cursor is open, reads no further than the client, and closes the cursor at the end', async () => {
    const { response, first } = await pausedDownload();
    expect(first.toString('utf8')).toMatch(/^\uFEFFPledge ID,Backer name,Email/);
    // The client reads nothing more: the server stops fetching and its cursor stays open, mid-report.
    // Once the socket's buffers are full the export stops: its last FETCH stays the last (under load filling them
    // takes a while, so wait for the fetches to stop before asserting that they stay stopped).
    let lastFetch = '';
    await waitFor('the export to wait for its client', async () => {
      const seen = await lastFetchStarted();
      const settled = seen !== undefined && seen === lastFetch;
      lastFetch = seen ?? '';
      if (!settled) await new Promise((resolve) => setTimeout(resolve, 250));
      return settled;
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await lastFetchStarted()).toBe(lastFetch);
    expect(await openCursors()).toBe(1);

    let text = first.toString('utf8');
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => (text += chunk));
    response.resume();
    await once(response, 'end');
    expect(text.split('\r\n').length - 2).toBe(ROWS);
    expect(text.length).toBeGreaterThan(4_000_000);
    await waitFor('the cursor to close', async () => (await openCursors()) === 0);
  });

  it('runs a few exports at once and answers 503 beyond; a client that leaves ends its export', async () => {
    const downloads = [await pausedDownload(), await pausedDownload(), await pausedDownload()];
    await waitFor('three exports waiting for their clients', async () => (await openCursors()) === 3);
    const refused = await request(api.app).get(`/api/campaigns/${campaignId}/backers.csv`).set(creator.auth).expect(503);
    expect(refused.headers['retry-after']).toBe('10');
    expect(refused.body.error.code).toBe('exports_busy');
    expect(refused.headers['content-disposition']).toBeUndefined();
    for (const { response } of downloads) response.destroy();
    await waitFor('the abandoned exports to roll back', async () => (await openCursors()) === 0);
    await request(api.app).get(`/api/campaigns/${campaignId}/backers.csv`).set(creator.auth).expect(200);
  });
});
