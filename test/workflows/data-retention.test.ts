/**
 * The data-retention workflow on the Temporal stand-in with time skipping and the real retention activities: rows
 * go on the round after their period ends and not before, a backlog bigger than a call is worked off at once
 * without waiting for the next round, the workflow continues as new and goes on, and its histories replay.
 * (Velocity events, pledges' client addresses and dead verification links since VELOCITY_AND_IP_RETENTION.)
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { createRetentionActivities } from '../../activities/retention';
import { DATA_RETENTION_WORKFLOW_ID, type dataRetentionWorkflow } from '../../workflows/data-retention';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { encodeHistory, workflowBundle } from '../helpers/platform';
import { createTestWorkflowEnvironment } from '../helpers/temporal';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

let env: TestWorkflowEnvironment;
let testDb: TestDatabase;
beforeAll(async () => {
  env = await createTestWorkflowEnvironment();
  testDb = await createTestDatabase();
});
afterAll(async () => {
  await testDb.drop();
  await env.teardown();
});

const db = () => testDb.database.db;

/** What is left of the rows the test wrote, by name. */
async function surviving() {
  const [attempts, keys, tokens, events, notifications, velocity, ips, links] = await Promise.all([
    db().selectFrom('login_attempts').select('email').execute(),
    db().selectFrom('idempotency_keys').select('key').execute(),
    db().selectFrom('auth_tokens').select('token_hash').execute(),
    db().selectFrom('stripe_events').select(['id', 'payload']).execute(),
    db().selectFrom('notifications').select('dedupe_key').execute(),
    db().selectFrom('velocity_events').select('id').execute(),
    db().selectFrom('pledges').select('placed_from_ip').where('placed_from_ip', 'is not', null).execute(),
    db().selectFrom('email_verifications').select('id').execute(),
  ]);
  return {
    velocityEvent: velocity.length === 1,
    settledPledgeIp: ips.some((row) => row.placed_from_ip === '192.0.2.70'),
    recentPledgeIp: ips.some((row) => row.placed_from_ip === '192.0.2.71'),
    deadLink: links.length === 1,
    loginAttempts: attempts.length,
    idempotencyKey: keys.length === 1,
    deadToken: tokens.length === 1,
    eventRow: events.length === 1,
    eventPayload: events[0]?.payload !== null,
    sentNotification: notifications.length === 1,
  };
}

test('purges on schedule, works off a backlog at once, continues as new, and replays', async () => {
  const taskQueue = `retention-${testDb.schema}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: createRetentionActivities({ database: testDb.database }),
    shutdownGraceTime: '1 second',
  });

  // Everything is an hour old when the workflow starts (its first round is at t0), so each row dies an hour
  // before its period's end after t0: well between two daily rounds.
  const t0 = await env.currentTimeMs();
  const anHourAgo = new Date(t0 - HOUR);
  const user = await db().insertInto('users').values({ email: 'retention@example.com', name: 'R', password_hash: 'x' }).returning('id').executeTakeFirstOrThrow();
  await db()
    .insertInto('login_attempts')
    // Five from the day before (a backlog larger than a call: 2 rows a call), one an hour old.
    .values([...Array.from({ length: 5 }, (_, i) => ({ email: `old${i}@example.com`, attempted_at: new Date(t0 - 2 * DAY) })), { email: 'recent@example.com', attempted_at: anHourAgo }].map((row) => ({ ...row, ip: '192.0.2.9', succeeded: false })))
    .execute();
  await db().insertInto('idempotency_keys').values({ user_id: user.id, key: 'k', method: 'POST', path: '/p', request_hash: 'h', response_status: 201, response_body: '{}', created_at: anHourAgo, completed_at: anHourAgo }).execute();
  await db().insertInto('auth_tokens').values({ user_id: user.id, token_hash: 'dead', created_at: new Date(t0 - DAY), expires_at: anHourAgo }).execute();
  await db().insertInto('stripe_events').values({ id: 'evt_retention', type: 'customer.updated', payload: '{"email":"retention@example.com"}', received_at: anHourAgo, processed_at: anHourAgo }).execute();
  await db()
    .insertInto('notifications')
    .values({ recipient_id: user.id, template: 'pledge_receipt', payload: '{}', dedupe_key: 'sent', created_at: new Date(t0 - 2 * HOUR), next_attempt_at: anHourAgo, sent_at: anHourAgo, attempts: 1 })
    .execute();
  await db().insertInto('velocity_events').values({ action: 'pledge', user_id: user.id, ip: '192.0.2.9', card: 'fp:x', outcome: 'declined', weight: 3, occurred_at: anHourAgo }).execute();
  await db().insertInto('email_verifications').values({ user_id: user.id, token_hash: 'dead-link', created_at: new Date(t0 - DAY), expires_at: anHourAgo }).execute();
  // Two funded campaigns' pledges: one settled 100 days and an hour before t0 (its address goes at day 20), one an hour before.
  for (const [ip, fundedAt] of [['192.0.2.70', new Date(t0 - 100 * DAY - HOUR)], ['192.0.2.71', anHourAgo]] as const) {
    const campaign = await db()
      .insertInto('campaigns')
      .values({ creator_id: user.id, title: 'Lamp', slug: `lamp-${ip.replace(/\./g, '-')}`, goal_amount: 1_000, currency: 'USD', model: 'aon', status: 'funded', funded_at: fundedAt, starts_at: new Date(fundedAt.getTime() - 30 * DAY), ends_at: fundedAt })
      .returning('id')
      .executeTakeFirstOrThrow();
    await db().insertInto('pledges').values({ campaign_id: campaign.id, backer_id: user.id, amount: 1_000, currency: 'USD', status: 'captured', amount_captured: 1_000, captured_at: fundedAt, placed_from_ip: ip }).execute();
  }

  await worker.runUntil(async () => {
    const handle = await env.client.workflow.start<typeof dataRetentionWorkflow>('dataRetentionWorkflow', {
      workflowId: DATA_RETENTION_WORKFLOW_ID,
      taskQueue,
      args: [{ intervalMs: DAY, batchSize: 2, maxBatches: 1 }],
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
    const firstRunId = handle.firstExecutionRunId;
    try {
      // The first round at t0: the day-old backlog goes (2 + 2 + 1 rows, three rounds without sleeping), the rest stays.
      await env.sleep(HOUR);
      expect(await surviving()).toEqual({
        loginAttempts: 1,
        idempotencyKey: true,
        deadToken: true,
        eventRow: true,
        eventPayload: true,
        sentNotification: true,
        velocityEvent: true,
        settledPledgeIp: true,
        recentPledgeIp: true,
        deadLink: true,
      });
      const backlogRounds = (await handle.fetchHistory()).events!.filter((event) => event.activityTaskScheduledEventAttributes?.activityType?.name === 'purgeLoginAttempts');
      expect(backlogRounds).toHaveLength(3);

      // Starting it again (another worker process) leaves the one running as it is.
      const again = await env.client.workflow.start<typeof dataRetentionWorkflow>('dataRetentionWorkflow', {
        workflowId: DATA_RETENTION_WORKFLOW_ID,
        taskQueue,
        args: [{ intervalMs: HOUR, batchSize: 1_000, maxBatches: 20 }],
        workflowIdConflictPolicy: 'USE_EXISTING',
      });
      expect(again.firstExecutionRunId).toBe(firstRunId);

      // The round at t0 + 1 day: the attempt, the key (24 h), the token and the link dead for a day are 25 hours old.
      await env.sleep(DAY);
      expect(await surviving()).toEqual({
        loginAttempts: 0,
        idempotencyKey: false,
        deadToken: false,
        eventRow: true,
        eventPayload: true,
        sentNotification: true,
        velocityEvent: true,
        settledPledgeIp: true,
        recentPledgeIp: true,
        deadLink: false,
      });

      // The velocity event goes on the round at day 7; the older pledge's address on the one at day 20.
      await env.sleep(5 * DAY);
      expect(await surviving()).toMatchObject({ velocityEvent: true, settledPledgeIp: true });
      await env.sleep(DAY);
      expect(await surviving()).toMatchObject({ velocityEvent: false, settledPledgeIp: true });
      await env.sleep(12 * DAY);
      expect((await surviving()).settledPledgeIp).toBe(true);
      await env.sleep(DAY);
      expect(await surviving()).toMatchObject({ settledPledgeIp: false, recentPledgeIp: true });

      // The payload goes on the round at day 30 (not the one at day 29), the row stays.
      await env.sleep(9 * DAY);
      expect((await surviving()).eventPayload).toBe(true);
      await env.sleep(DAY);
      expect(await surviving()).toMatchObject({ eventRow: true, eventPayload: false, sentNotification: true });

      // The notification on the round at day 90, not the one at day 89.
      await env.sleep(59 * DAY);
      expect((await surviving()).sentNotification).toBe(true);
      await env.sleep(DAY);
      expect((await surviving()).sentNotification).toBe(false);

      // 100 rounds (three of them at t0) make a run: past day 98 the workflow runs on as a new run, still purging.
      await env.sleep(10 * DAY);
      const description = await handle.describe();
      expect(description.status.name).toBe('RUNNING');
      expect(description.runId).not.toBe(firstRunId);
      await db().insertInto('login_attempts').values({ email: 'later@example.com', ip: '192.0.2.9', succeeded: false, attempted_at: new Date((await env.currentTimeMs()) - 2 * DAY) }).execute();
      await env.sleep(DAY);
      expect(await surviving()).toMatchObject({ loginAttempts: 0, recentPledgeIp: true });
    } finally {
      await handle.terminate('test over');
    }
  });

  // Both runs replay against today's code; the second, short one is stored for the replay suite on request.
  const runs: Array<{ runId: string; history: Awaited<ReturnType<ReturnType<typeof env.client.workflow.getHandle>['fetchHistory']>> }> = [];
  for await (const execution of env.client.workflow.list()) {
    runs.push({ runId: execution.runId, history: await env.client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory() });
  }
  expect(runs).toHaveLength(2);
  for (const run of runs) {
    await expect(Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, run.history, run.runId)).resolves.toBeUndefined();
  }
  if (process.env.UPDATE_HISTORY_FIXTURES) {
    const shortest = runs.reduce((a, b) => (a.history.events!.length <= b.history.events!.length ? a : b));
    const encoded = encodeHistory(shortest.history);
    writeFileSync(join(__dirname, 'histories', `dataRetentionWorkflow-${createHash('sha256').update(encoded).digest('hex').slice(0, 8)}.history`), `${encoded}\n`);
  }
});
