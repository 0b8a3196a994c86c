/**
 * Live-progress streams are capped per client address and in total: beyond either cap a new stream gets 503 with
 * Retry-After before any work is done, and a slot comes back when its stream closes (client gone, refusal, 404).
 */
import { randomUUID } from 'node:crypto';
import { type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { addressKey } from '../../src/api/connection-caps';
import { STREAMS_RETRY_AFTER_SECONDS } from '../../src/api/routes/progress';
import { ProgressHub } from '../../src/progress/progress-hub';
import { campaignRow, createTestApi, type TestApi } from '../helpers/api';
import { TEST_DATABASE_URL } from '../helpers/db';

const PER_IP = 2;
const TOTAL = 4;

let api: TestApi;
let hub: ProgressHub;
let server: Server;
let base: string;
let campaignId: string;
const open: AbortController[] = [];

beforeAll(async () => {
  // Loopback is the trusted proxy (the default): X-Forwarded-For stands for the client's address.
  api = await createTestApi({ SSE_MAX_CONNECTIONS: String(TOTAL), SSE_MAX_CONNECTIONS_PER_IP: String(PER_IP) });
  hub = new ProgressHub(api.context.database.db, TEST_DATABASE_URL);
  await hub.start();
  api.context.progress = hub;
  server = api.app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  campaignId = (await campaignRow(api)).id;
});
afterEach(async () => {
  for (const controller of open.splice(0)) controller.abort();
  await until(() => hub.subscriberCount === 0);
});
afterAll(async () => {
  await hub.stop();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await api.close();
});

async function until(condition: () => boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Opens a stream as `ip`; a 200 stays open (until the test ends) and has sent its first event. */
async function stream(ip: string, id = campaignId): Promise<Response> {
  const controller = new AbortController();
  const response = await fetch(`${base}/api/campaigns/${id}/progress`, { headers: { 'X-Forwarded-For': ip }, signal: controller.signal });
  if (response.status === 200) {
    open.push(controller);
    const reader = response.body!.getReader();
    await reader.read();
    reader.releaseLock();
  }
  return response;
}

test(`one address gets ${PER_IP} streams; the next is 503 with Retry-After, and other addresses are not affected`, async () => {
  for (let i = 0; i < PER_IP; i++) expect((await stream('198.51.100.7')).status).toBe(200);
  const refused = await stream('198.51.100.7');
  expect(refused.status).toBe(503);
  expect(refused.headers.get('retry-after')).toBe(String(STREAMS_RETRY_AFTER_SECONDS));
  expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('too_many_streams');
  expect((await stream('198.51.100.8')).status).toBe(200);
  expect(hub.subscriberCount).toBe(PER_IP + 1);
});

test(`the server holds ${TOTAL} streams in all, whoever opens them`, async () => {
  for (let i = 0; i < TOTAL; i++) expect((await stream(`203.0.113.${i + 1}`)).status).toBe(200);
  const refused = await stream('203.0.113.200');
  expect(refused.status).toBe(503);
  expect(refused.headers.get('retry-after')).toBe(String(STREAMS_RETRY_AFTER_SECONDS));
  expect(hub.subscriberCount).toBe(TOTAL);
});

test('a closed stream gives its slot back, and refused or unknown-campaign requests never keep one', async () => {
  for (let i = 0; i < PER_IP; i++) expect((await stream('192.0.2.9')).status).toBe(200);
  for (let i = 0; i < 5; i++) expect((await stream('192.0.2.9')).status).toBe(503);
  open.shift()!.abort();
  await until(() => hub.subscriberCount === PER_IP - 1);
  // The slot is back once the server has seen the close (soon after the subscriber is gone).
  let reopened = await stream('192.0.2.9');
  for (let attempt = 0; reopened.status === 503 && attempt < 50; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    reopened = await stream('192.0.2.9');
  }
  expect(reopened.status).toBe(200);

  // 404s from a fresh address: each took a slot and gave it back.
  for (let i = 0; i < PER_IP * 3; i++) expect((await stream('192.0.2.10', randomUUID())).status).toBe(404);
  for (let i = 0; i < PER_IP; i++) expect((await stream('192.0.2.10')).status).toBe(200);
});

test('a stopped hub ends every stream and frees every slot', async () => {
  const local = new ProgressHub(api.context.database.db, TEST_DATABASE_URL);
  await local.start();
  api.context.progress = local;
  try {
    for (let i = 0; i < PER_IP; i++) expect((await stream('192.0.2.20')).status).toBe(200);
    await local.stop();
    await until(() => local.subscriberCount === 0);
    api.context.progress = hub;
    let again = await stream('192.0.2.20');
    for (let attempt = 0; again.status === 503 && attempt < 50; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      again = await stream('192.0.2.20');
    }
    expect(again.status).toBe(200);
  } finally {
    api.context.progress = hub;
    await local.stop();
  }
});

test('IPv6 clients count per /64; IPv4-mapped addresses count as IPv4', () => {
  expect(addressKey('2001:db8:1:2:aaaa::1')).toBe(addressKey('2001:db8:1:2:ffff:ffff:ffff:ffff'));
  expect(addressKey('2001:db8:1:2::1')).not.toBe(addressKey('2001:db8:1:3::1'));
  expect(addressKey('::1')).toBe('0:0:0:0::/64');
  expect(addressKey('::ffff:192.0.2.1')).toBe('192.0.2.1');
  expect(addressKey('192.0.2.1')).toBe('192.0.2.1');
});
