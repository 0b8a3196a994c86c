/**
 * `npm run bench -- tally`: the deadline tally over 1,000,000 pledge rows (goal: under 500 ms), through the partial
 * index `pledges_live_idx` (an index-only scan of the live pledges). Uses its own schema in TEST_DATABASE_URL's
 * database and drops it afterwards. Last line: JSON figures.
 */
import { sql } from 'kysely';
import { tallyPledges } from '../../src/campaigns/tally';
import { createTestDatabase } from '../helpers/db';

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);

async function main(): Promise<void> {
  const testDb = await createTestDatabase();
  const db = testDb.database.db;
  try {
    // One live pledge per backer per campaign: a backer per pair of pledges, with ids derived from their number.
    await sql`insert into users (id, email, name, password_hash)
              select md5('u' || g)::uuid, 'u' || g || '@bench.test', 'u', 'x' from generate_series(0, ${Math.ceil(ROWS / 2)}) g`.execute(db);
    const creator = await db.selectFrom('users').select('id').limit(1).executeTakeFirstOrThrow();
    await sql`insert into campaigns (creator_id, title, slug, goal_amount, currency, model, starts_at, ends_at, status)
              select ${creator.id}, 'c' || g, 'bench-' || g, 100000, 'USD', 'aon', now(), now() + interval '30 days', 'active'
              from generate_series(1, 10) g`.execute(db);
    const campaigns = await db.selectFrom('campaigns').select('id').orderBy('slug').execute();
    const target = campaigns[0]!.id;
    const loadStarted = Date.now();
    // 1,000,000 pledges: half on the campaign being tallied, of which 1 in 5 are no longer live.
    await sql`insert into pledges (campaign_id, backer_id, amount, currency, status)
              select case when g % 2 = 0 then ${target}::uuid else (select id from campaigns where slug = 'bench-' || (2 + g % 9)) end,
                     md5('u' || (g / 2))::uuid, 1000 + g % 5000, 'USD',
                     case when g % 10 < 8 then (case when g % 2 = 0 then 'authorized' else 'captured' end) else 'released' end
              from generate_series(1, ${ROWS}) g`.execute(db);
    await sql`vacuum analyze pledges`.execute(db).catch(() => sql`analyze pledges`.execute(db));
    const loadSeconds = (Date.now() - loadStarted) / 1000;
    const timings: number[] = [];
    let tally = { totalPledged: 0, backers: 0 };
    for (let i = 0; i < 7; i++) {
      const started = process.hrtime.bigint();
      tally = await tallyPledges(db, target);
      timings.push(Number(process.hrtime.bigint() - started) / 1e6);
    }
    const plan = await sql<{ 'QUERY PLAN': string }>`explain select sum(amount), count(*) from pledges where campaign_id = ${target} and status in ('authorized', 'captured')`.execute(db);
    timings.sort((a, b) => a - b);
    const figures = {
      benchmark: 'tally',
      rows: ROWS,
      livePledgesTallied: tally.backers,
      medianMs: Math.round(timings[3]! * 10) / 10,
      worstMs: Math.round(timings[6]! * 10) / 10,
      usesPartialIndex: plan.rows.some((row) => row['QUERY PLAN'].includes('pledges_live_idx')),
      loadSeconds: Math.round(loadSeconds),
    };
    console.log(`tally of ${tally.backers} live pledges among ${ROWS} rows: median ${figures.medianMs} ms, worst ${figures.worstMs} ms (partial index: ${figures.usesPartialIndex})`);
    console.log(JSON.stringify(figures));
  } finally {
    await testDb.drop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
