/**
 * Campaign progress notifications: any change to a campaign's pledges, status or stretch goals NOTIFYs
 * `campaign_progress` with the campaign id, inside the changing transaction (so it is sent only if it commits).
 * The API's progress hub LISTENs once per process and fans out to its SSE clients.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`create function notify_campaign_progress() returns trigger language plpgsql as $$
            begin
              perform pg_notify('campaign_progress', new.campaign_id::text);
              return null;
            end $$`.execute(db);
  await sql`create function notify_campaign_status() returns trigger language plpgsql as $$
            begin
              perform pg_notify('campaign_progress', new.id::text);
              return null;
            end $$`.execute(db);
  await sql`create trigger pledges_progress after insert or update of status, amount on pledges
            for each row execute function notify_campaign_progress()`.execute(db);
  await sql`create trigger campaigns_progress after update of status on campaigns
            for each row execute function notify_campaign_status()`.execute(db);
  await sql`create trigger stretch_goals_progress after insert or update of unlocked_at on stretch_goals
            for each row execute function notify_campaign_progress()`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop trigger stretch_goals_progress on stretch_goals`.execute(db);
  await sql`drop trigger campaigns_progress on campaigns`.execute(db);
  await sql`drop trigger pledges_progress on pledges`.execute(db);
  await sql`drop function notify_campaign_status()`.execute(db);
  await sql`drop function notify_campaign_progress()`.execute(db);
}
