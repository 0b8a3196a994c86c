/**
 * GET /api/campaigns/:id/progress: a snapshot on connect, another within a second of each change (a pledge placed
 * through the API, a status change written elsewhere), one LISTEN connection for all clients, clean end on stop.
 */
import { randomUUID } from 'node:crypto';
import { type AddressInfo } from 'node:net';
import { type Server } from 'node:http';
import request from 'supertest';
import { ProgressHub } from '../../src/progress/progress-hub';
import { createTestApi, signUp, type TestApi } from '../helpers/api';
import { TEST_DATABASE_URL } from '../helpers/db';
import { startTestStripe, type TestStripe } from '../helpers/stripe';

let api: TestApi;
let stripe: TestStripe;
let hub: ProgressHub;
let server: Server;
let base: string;

beforeAll(async () => {
  stripe = await startTestStripe();
  api = await createTestApi({}, { stripe: stripe.stripe });
  hub = new ProgressHub(api.context.database.db, TEST_DATABASE_URL);
  await hub.start();
  api.context.progress = hub;
  server = api.app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await hub.stop();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await api.close();
  await stripe.close();
});

/** Reads server-sent `progress` events from a streaming response. */
function events(response: Response) {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  return async function next(timeoutMs = 2_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = buffer.indexOf('\n\n');
      if (end >= 0) {
        const chunk = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = chunk.split('\n').find((line) => line.startsWith('data: '));
        if (data) return JSON.parse(data.slice(6)) as Record<string, unknown>;
        continue;
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error('no event in time');
      const read = await Promise.race([reader.read(), new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no event in time')), remaining))]);
      if (read.done) throw new Error('stream ended');
      buffer += decoder.decode(read.value, { stream: true });
    }
  };
}

test('a client sees the first snapshot at once and each change within a second', async () => {
  const creator = await signUp(api);
  const db = api.context.database.db;
  const campaign = await db
    .insertInto('campaigns')
    .values({ creator_id: creator.id, title: 'Lamp', slug: `lamp-${randomUUID()}`, goal_amount: 10_000, currency: 'USD', model: 'hybrid', status: 'active', starts_at: new Date(Date.now() - 1000), ends_at: new Date(Date.now() + 3 * 86_400_000) })
    .returningAll()
    .executeTakeFirstOrThrow();
  const response = await fetch(`${base}/api/campaigns/${campaign.id}/progress`);
  expect(response.headers.get('content-type')).toBe('text/event-stream');
  const next = events(response);
  expect(await next()).toMatchObject({ raised: '0.00', goal: '100.00', percent: 0, backers: 0, status: 'active' });

  const backer = await signUp(api);
  const started = Date.now();
  await request(api.app).post(`/api/campaigns/${campaign.id}/pledges`).set(backer.auth).set('Idempotency-Key', randomUUID()).send({ amount: '25.00', paymentMethodId: 'pm_card_visa' }).expect(201);
  let snapshot = await next(1_000);
  while (snapshot.backers !== 1) snapshot = await next(1_000);
  expect(snapshot).toMatchObject({ raised: '25.00', percent: 25, backers: 1 });
  expect(Date.now() - started).toBeLessThan(1_500);

  await db.updateTable('campaigns').set({ status: 'settling' }).where('id', '=', campaign.id).execute();
  let settling = await next(1_000);
  while (settling.status !== 'settling') settling = await next(1_000);
  expect(hub.subscriberCount).toBe(1);
});

test('unknown and draft campaigns are 404, and a stopped hub ends every stream', async () => {
  await request(api.app).get(`/api/campaigns/${randomUUID()}/progress`).expect(404);
  const creator = await signUp(api);
  const draft = await api.context.database.db
    .insertInto('campaigns')
    .values({ creator_id: creator.id, title: 'Draft', slug: `draft-${randomUUID()}`, goal_amount: 10_000, currency: 'USD', model: 'aon', starts_at: new Date(Date.now() + 1000), ends_at: new Date(Date.now() + 3 * 86_400_000) })
    .returningAll()
    .executeTakeFirstOrThrow();
  await request(api.app).get(`/api/campaigns/${draft.id}/progress`).expect(404);

  await api.context.database.db.updateTable('campaigns').set({ status: 'active' }).where('id', '=', draft.id).execute();
  const response = await fetch(`${base}/api/campaigns/${draft.id}/progress`);
  const next = events(response);
  await next();
  await hub.stop();
  await expect(next(1_000)).rejects.toThrow('stream ended');
});
