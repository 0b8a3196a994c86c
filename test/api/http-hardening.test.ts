/**
 * The HTTP edge a browser and a reverse proxy meet: security headers on every answer, a CORS allow-list for the
 * web frontend (CORS_ORIGINS), and which proxies are trusted for the client's address (TRUST_PROXY).
 */
import express from 'express';
import request from 'supertest';
import { applyHttpEdge } from '../../src/api/http-edge';
import { loadConfig } from '../../src/config';
import { createTestApi, type TestApi } from '../helpers/api';
import { TEST_DATABASE_URL } from '../helpers/db';

let api: TestApi;
beforeAll(async () => {
  api = await createTestApi({ CORS_ORIGINS: 'https://app.example.com, https://admin.example.com' });
});
afterAll(() => api.close());

test('every answer carries security headers and does not name the framework', async () => {
  const response = await request(api.app).get('/health/live').expect(200);
  expect(response.headers['x-powered-by']).toBeUndefined();
  expect(response.headers['x-content-type-options']).toBe('nosniff');
  expect(response.headers['strict-transport-security']).toMatch(/max-age=\d+/);
  expect(response.headers['x-frame-options']).toBe('SAMEORIGIN');
  expect(response.headers['content-security-policy']).toContain("default-src 'self'");
  // Errors too.
  expect((await request(api.app).get('/api/nothing-here').expect(404)).headers['x-content-type-options']).toBe('nosniff');
});

test('CORS answers the allowed origins, with the headers the frontend sends, and nobody else', async () => {
  const allowed = await request(api.app).options('/api/campaigns').set('Origin', 'https://app.example.com').set('Access-Control-Request-Method', 'POST').set('Access-Control-Request-Headers', 'authorization, content-type, idempotency-key');
  expect(allowed.status).toBe(204);
  expect(allowed.headers['access-control-allow-origin']).toBe('https://app.example.com');
  expect(allowed.headers['access-control-allow-headers']).toMatch(/idempotency-key/i);
  const other = await request(api.app).options('/api/campaigns').set('Origin', 'https://evil.example.net').set('Access-Control-Request-Method', 'POST');
  expect(other.headers['access-control-allow-origin']).toBeUndefined();
  const simple = await request(api.app).get('/api/campaigns').set('Origin', 'https://admin.example.com').expect(200);
  expect(simple.headers['access-control-allow-origin']).toBe('https://admin.example.com');
});

test('with no CORS_ORIGINS, no origin is allowed', async () => {
  const plain = await createTestApi();
  try {
    const answer = await request(plain.app).get('/api/campaigns').set('Origin', 'https://app.example.com').expect(200);
    expect(answer.headers['access-control-allow-origin']).toBeUndefined();
  } finally {
    await plain.close();
  }
});

test('TRUST_PROXY decides whose X-Forwarded-For is believed', async () => {
  const base = { NODE_ENV: 'test', DATABASE_URL: TEST_DATABASE_URL };
  expect(loadConfig(base).http.trustProxy).toBe('loopback');
  expect(loadConfig({ ...base, TRUST_PROXY: 'false' }).http.trustProxy).toBe(false);
  expect(loadConfig({ ...base, TRUST_PROXY: '2' }).http.trustProxy).toBe(2);
  expect(loadConfig({ ...base, TRUST_PROXY: '10.0.0.0/8, 192.168.0.1' }).http.trustProxy).toBe('10.0.0.0/8, 192.168.0.1');
  expect(() => loadConfig({ ...base, TRUST_PROXY: 'not an address' })).toThrow(/TRUST_PROXY/);

  const seen = async (trustProxy: string) => {
    const app = express();
    applyHttpEdge(app, loadConfig({ ...base, TRUST_PROXY: trustProxy }));
    app.get('/ip', (req, res) => void res.json({ ip: req.ip }));
    return (await request(app).get('/ip').set('X-Forwarded-For', '203.0.113.5')).body.ip as string;
  };
  expect(await seen('loopback')).toBe('203.0.113.5');
  expect(await seen('false')).not.toBe('203.0.113.5');
});
