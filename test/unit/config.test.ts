import { ConfigError, loadConfig } from '../../src/config';

describe('loadConfig', () => {
  it('starts with no configuration at all, on development defaults', () => {
    const config = loadConfig({});
    expect(config.database.url).toBe('postgres://postgres@127.0.0.1:5432/postgres');
    expect(config.campaigns.platformFeeBps).toBe(600);
    expect(config.campaigns.holdWindowMs).toBe(7 * 24 * 3600 * 1000);
    expect(config.campaigns.graceWindowMs).toBe(7 * 24 * 3600 * 1000);
    expect(config.campaigns.refundWindowMs).toBe(90 * 24 * 3600 * 1000);
    expect(config.campaigns.minDurationMs).toBe(24 * 3600 * 1000);
    expect(config.campaigns.maxDurationMs).toBe(60 * 24 * 3600 * 1000);
    expect(config.temporal).toMatchObject({ address: undefined, namespace: 'default', taskQueue: 'campaigns' });
    expect(config.stripe.secretKey).toBeUndefined();
  });

  it('reads every setting from the environment', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgres://app@db:5432/crowdfund',
      TEMPORAL_ADDRESS: 'temporal:7233',
      STRIPE_SECRET_KEY: 'sk_test_123',
      STRIPE_API_BASE: 'http://127.0.0.1:12111',
      STRIPE_WEBHOOK_SECRET: 'whsec_abc',
      PLATFORM_FEE_BPS: '750',
      CAMPAIGN_MIN_DURATION: '30s',
      HOLD_WINDOW: '6d',
      PORT: '8080',
    });
    expect(config.database.url).toBe('postgres://app@db:5432/crowdfund');
    expect(config.temporal.address).toBe('temporal:7233');
    expect(config.stripe).toEqual({ secretKey: 'sk_test_123', apiBase: 'http://127.0.0.1:12111', webhookSecret: 'whsec_abc' });
    expect(config.campaigns.platformFeeBps).toBe(750);
    expect(config.campaigns.minDurationMs).toBe(30_000);
    expect(config.campaigns.holdWindowMs).toBe(6 * 24 * 3600 * 1000);
    expect(config.http.port).toBe(8080);
  });

  it('names every bad variable in one readable error', () => {
    let error: unknown;
    try {
      loadConfig({ PLATFORM_FEE_BPS: '1200', HOLD_WINDOW: 'a week', DATABASE_URL: 'mysql://x', STRIPE_SECRET_KEY: 'pk_live_x' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const { problems, message } = error as ConfigError;
    expect(problems).toHaveLength(4);
    expect(message).toMatch(/PLATFORM_FEE_BPS: .*800.*\(got "1200"\)/);
    expect(message).toMatch(/HOLD_WINDOW: "a week" is not a duration/);
    expect(message).toMatch(/DATABASE_URL: /);
    expect(message).toMatch(/STRIPE_SECRET_KEY: must start with sk_test_/);
    // Secrets are named but never echoed.
    expect(message).not.toContain('pk_live_x');
    expect(message).not.toContain('mysql://x');
  });

  it('requires a real auth secret in production', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/AUTH_SECRET: is required in production/);
    expect(() => loadConfig({ NODE_ENV: 'production', AUTH_SECRET: 'short' })).toThrow(/AUTH_SECRET: must be at least 32/);
    expect(loadConfig({ NODE_ENV: 'production', AUTH_SECRET: 'x'.repeat(32) }).auth.secret).toBe('x'.repeat(32));
  });

  it('rejects inconsistent campaign bounds', () => {
    expect(() => loadConfig({ CAMPAIGN_MIN_DURATION: '90d' })).toThrow(/CAMPAIGN_MIN_DURATION: must not exceed/);
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig({ TEMPORAL_ADDRESS: '', STRIPE_SECRET_KEY: ' ' }).temporal.address).toBeUndefined();
  });
});
