/**
 * `npm run bench -- backers-csv`: the backer report of BENCH_ROWS pledges (default 100,000) against one of a tenth as
 * many, downloaded through the real API over HTTP, each pledge with a reward, half of them with survey answers (a
 * shipping address and a note). Goal: constant memory, i.e. the same peak heap and RSS growth for 100,000 rows as for
 * 10,000. For contrast, the same report gathered in memory before sending (what `res.send(csv)` would do), whose
 * growth is proportional to the rows: it shows the measurement would see a leak.
 *
 * Each run is a fresh process (its own baseline: RSS never shrinks back within a process) serving the report and
 * downloading it (the client counts bytes and drops them). Memory is sampled every 5 ms for the RSS and the heap in
 * use, and every 100 ms after a full garbage collection for the live heap: what the export holds on to, as against
 * garbage not yet collected. Uses its own schema in TEST_DATABASE_URL's database and drops it afterwards. Last line:
 * JSON figures.
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { get } from 'node:http';
import { type AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { sql } from 'kysely';
import { AppDatabase } from '../../db/database';
import { createApp } from '../../src/api/app';
import { issueToken } from '../../src/auth/tokens';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/logger';
import { writeBackerReport } from '../../src/reports/backer-report';
import { createTestDatabase, TEST_DATABASE_URL } from '../helpers/db';

const LARGE = Number(process.env.BENCH_ROWS ?? 100_000);
const SMALL = Math.round(LARGE / 10);
const MB = 1024 * 1024;
const round = (value: number) => Math.round(value * 10) / 10;
/** Set in the environment of a measuring process (this file, run again). */
const JOB_VARIABLE = 'BACKERS_CSV_BENCH_JOB';

interface Run {
  rows: number;
  megabytes: number;
  seconds: number;
  peakRssGrowthMb: number;
  peakHeapGrowthMb: number;
  peakLiveHeapGrowthMb: number;
}

/** What a measuring process is told: the schema holding the data, the campaigns, a creator's token, what to run. */
interface Job {
  schema: string;
  token: string;
  warmUpCampaignId: string;
  campaignId: string;
  mode: 'streamed' | 'gathered';
}

/** Downloads the report, counting records and bytes and keeping none of it. */
function download(url: string, token: string): Promise<{ rows: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    get(url, { headers: { Authorization: `Bearer ${token}` } }, (response) => {
      if (response.statusCode !== 200) return reject(new Error(`the report answered ${response.statusCode}`));
      let bytes = 0;
      let records = 0;
      response.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        // No field of this data set holds a line break, so line feeds count the records.
        for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) records++;
      });
      response.on('end', () => resolve({ rows: records - 1, bytes }));
      response.on('error', reject);
    }).on('error', reject);
  });
}

/** In a fresh process: serves and downloads (or gathers) one report, sampling memory from a collected baseline. */
async function measure(job: Job): Promise<Run> {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: TEST_DATABASE_URL, LOG_LEVEL: 'error' });
  const database = new AppDatabase({ connectionString: TEST_DATABASE_URL, schema: job.schema, poolSize: 2 });
  const server = createApp({ config, database, logger: createLogger('silent') }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  const report = (campaignId: string) => download(`http://127.0.0.1:${(server.address() as AddressInfo).port}/api/campaigns/${campaignId}/backers.csv`, job.token);
  try {
    await report(job.warmUpCampaignId); // JIT, pool, query plans
    gc();
    const before = process.memoryUsage();
    const peak = { rss: before.rss, heap: before.heapUsed, liveHeap: before.heapUsed };
    let ticks = 0;
    const sampler = setInterval(() => {
      if (++ticks % 20 === 0) {
        gc();
        peak.liveHeap = Math.max(peak.liveHeap, process.memoryUsage().heapUsed);
      }
      const now = process.memoryUsage();
      peak.rss = Math.max(peak.rss, now.rss);
      peak.heap = Math.max(peak.heap, now.heapUsed);
    }, 5);
    const started = performance.now();
    const { rows, bytes } =
      job.mode === 'streamed'
        ? await report(job.campaignId)
        : await (async () => {
            const chunks: string[] = [];
            const written = await writeBackerReport(database, { id: job.campaignId }, async (chunk) => void chunks.push(chunk));
            return { rows: written, bytes: Buffer.byteLength(chunks.join('')) };
          })();
    clearInterval(sampler);
    return {
      rows,
      megabytes: round(bytes / MB),
      seconds: round((performance.now() - started) / 1000),
      peakRssGrowthMb: round((peak.rss - before.rss) / MB),
      peakHeapGrowthMb: round((peak.heap - before.heapUsed) / MB),
      peakLiveHeapGrowthMb: round((peak.liveHeap - before.heapUsed) / MB),
    };
  } finally {
    server.closeAllConnections();
    server.close();
    await database.close();
  }
}

function runInFreshProcess(job: Job): Run {
  const output = execFileSync(process.execPath, [__filename], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, [JOB_VARIABLE]: JSON.stringify(job) } });
  return JSON.parse(output.trim().split('\n').pop()!) as Run;
}

async function main(): Promise<void> {
  const testDb = await createTestDatabase();
  const db = testDb.database.db;
  const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: TEST_DATABASE_URL, LOG_LEVEL: 'error' });
  try {
    const creator = await db.insertInto('users').values({ email: 'creator@bench.test', name: 'Creator', password_hash: 'x' }).returning('id').executeTakeFirstOrThrow();
    const token = await issueToken(db, config.auth.secret, creator.id, 3_600_000);
    const loadStarted = Date.now();
    await sql`insert into users (id, email, name, password_hash)
              select md5('b' || g)::uuid, 'backer' || g || '@bench.test', 'Backer number ' || g, 'x' from generate_series(1, ${LARGE + SMALL}::int) g`.execute(db);
    const campaigns: Record<'small' | 'large', string> = { small: '', large: '' };
    let offset = 0;
    for (const [size, rows] of [['small', SMALL], ['large', LARGE]] as const) {
      const campaign = await db
        .insertInto('campaigns')
        .values({ creator_id: creator.id, title: `Report of ${rows}`, slug: `report-${size}`, goal_amount: 100_000, currency: 'USD', model: 'aon', status: 'funded', starts_at: new Date(Date.now() - 30 * 86_400_000), ends_at: new Date(Date.now() - 86_400_000) })
        .returning('id')
        .executeTakeFirstOrThrow();
      const reward = await db.insertInto('rewards').values({ campaign_id: campaign.id, title: 'Lamp', min_pledge: 1_000 }).returning('id').executeTakeFirstOrThrow();
      const questions = [
        { id: 'ship', kind: 'shipping_address', prompt: 'Ship to', required: true },
        { id: 'note', kind: 'text', prompt: 'Note', required: false },
      ];
      const survey = await db
        .insertInto('surveys')
        .values({ campaign_id: campaign.id, reward_id: reward.id, questions: JSON.stringify(questions), status: 'sent', sent_at: new Date() })
        .returning('id')
        .executeTakeFirstOrThrow();
      await sql`insert into pledges (id, campaign_id, backer_id, reward_id, amount, currency, status, amount_captured, captured_at)
                select md5('p' || g)::uuid, ${campaign.id}::uuid, md5('b' || g)::uuid, ${reward.id}::uuid, 1000 + g % 9000, 'USD', 'captured', 1000 + g % 9000, now()
                from generate_series(${offset + 1}::int, ${offset + rows}::int) g`.execute(db);
      await sql`insert into survey_responses (survey_id, pledge_id, backer_id, answers)
                select ${survey.id}::uuid, md5('p' || g)::uuid, md5('b' || g)::uuid,
                       jsonb_build_object('ship', jsonb_build_object('name', 'Backer number ' || g, 'line1', g || ' Main Street', 'city', 'Springfield',
                                                                     'region', 'IL', 'postalCode', '62701', 'country', 'US', 'phone', '+1 555 0100'),
                                          'note', 'Leave it with the neighbour at ' || g)
                from generate_series(${offset + 1}::int, ${offset + rows}::int) g where g % 2 = 0`.execute(db);
      campaigns[size] = campaign.id;
      offset += rows;
    }
    await sql`analyze`.execute(db);
    const loadSeconds = Math.round((Date.now() - loadStarted) / 1000);

    const job = (campaignId: string, mode: Job['mode']): Job => ({ schema: testDb.schema, token, warmUpCampaignId: campaigns.small, campaignId, mode });
    const small = runInFreshProcess(job(campaigns.small, 'streamed'));
    const large = runInFreshProcess(job(campaigns.large, 'streamed'));
    const gathered = runInFreshProcess(job(campaigns.large, 'gathered'));

    const line = (name: string, run: Run) =>
      `${name}: ${run.rows} rows, ${run.megabytes} MB in ${run.seconds} s; peak growth: RSS ${run.peakRssGrowthMb} MB, heap ${run.peakHeapGrowthMb} MB, live heap ${run.peakLiveHeapGrowthMb} MB`;
    console.log(line(`streamed, ${SMALL} pledges`, small));
    console.log(line(`streamed, ${LARGE} pledges`, large));
    console.log(line(`gathered in memory first, ${LARGE} pledges (for contrast)`, gathered));
    console.log(JSON.stringify({ benchmark: 'backers-csv', streamed: { [SMALL]: small, [LARGE]: large }, gatheredInMemory: { [LARGE]: gathered }, loadSeconds }));
  } finally {
    await testDb.drop();
  }
}

const job = process.env[JOB_VARIABLE];
if (job) {
  measure(JSON.parse(job) as Job).then(
    (run) => console.log(JSON.stringify(run)),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
} else {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
