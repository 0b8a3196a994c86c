/**
 * Every setting comes from the environment, parsed once at start-up. A bad or missing variable stops the
 * process with one readable line per variable (see `ConfigError`), never a stack trace.
 */
import ms from 'ms';
import { z } from 'zod';
import { DEFAULT_PLATFORM_FEE_BPS, MAX_PLATFORM_FEE_BPS, MIN_PLATFORM_FEE_BPS } from './money';
import { DEFAULT_CARD_ATTEMPTS_PER_CARD, DEFAULT_CARD_ATTEMPTS_PER_IP, DEFAULT_CARD_ATTEMPTS_PER_USER, DEFAULT_SIGNUPS_PER_IP } from './abuse/velocity-limits';

/** A duration such as "7d", "90 days", "30s" or "500ms", parsed into milliseconds. */
const duration = (fallback: string, bareNumberUnit = '') =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      const value = ms((bareNumberUnit && /^\s*\d+\s*$/.test(text) ? `${text.trim()}${bareNumberUnit}` : text) as ms.StringValue) as number | undefined;
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
        ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration (examples: 500ms, 30s, 15m, 7d)` });
        return z.NEVER;
      }
      return value;
    });

/** A percentage with up to two decimals ("5", "7.5", "2.25"), parsed into basis points so the arithmetic stays integer. */
const percentAsBps = (fallback: string, max: number) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      const match = /^\s*(\d{1,3})(?:\.(\d{1,2}))?\s*$/.exec(text);
      const bps = match ? Number(match[1]) * 100 + Number((match[2] ?? '').padEnd(2, '0')) : NaN;
      if (!(bps >= 0 && bps <= max * 100)) {
        ctx.addIssue({ code: 'custom', message: `must be a percentage from 0 to ${max} with at most two decimals (examples: 0, 5, 7.5)` });
        return z.NEVER;
      }
      return bps;
    });

/** A number of days ("180"), or a duration ("180d", "10m"): a bare number here means days, never milliseconds. */
const days = (fallback: string) => duration(fallback, 'd');

const integer = (fallback: number, min: number, max: number) =>
  z.coerce.number().int().min(min).max(max).default(fallback);

const optionalText = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === '' ? undefined : value));

const url = z.url({ protocol: /^https?$/ });

const schema = z
  .object({
    NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
    LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),

    DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).default('postgres://postgres@127.0.0.1:5432/postgres'),
    DATABASE_POOL_SIZE: integer(10, 1, 200),

    HOST: z.string().default('127.0.0.1'),
    PORT: integer(3000, 0, 65535),
    PUBLIC_URL: url.default('http://localhost:3000'),
    /** Origins of the web frontend allowed to call the API from a browser, comma-separated; none: same-origin only. */
    CORS_ORIGINS: z
      .string()
      .default('')
      .transform((text) => text.split(',').map((origin) => origin.trim()).filter(Boolean))
      .pipe(z.array(z.url({ protocol: /^https?$/ }).refine((origin) => new URL(origin).origin === origin, 'must be an origin, like https://app.example.com'))),
    /** Proxies believed about the client's address: loopback (default), false, a hop count, or addresses/subnets. */
    TRUST_PROXY: z
      .string()
      .default('loopback')
      .transform((text, ctx) => {
        const value = text.trim();
        if (value === 'false' || value === 'none') return false;
        if (/^\d+$/.test(value)) return Number(value);
        const allowed = /^(loopback|linklocal|uniquelocal|[0-9a-fA-F.:]+(\/\d{1,3})?)$/;
        if (value.split(',').every((part) => allowed.test(part.trim()))) return value;
        ctx.addIssue({ code: 'custom', message: 'must be false, a hop count, or addresses/subnets (e.g. loopback, 10.0.0.0/8)' });
        return z.NEVER;
      }),
    /** Live-progress (SSE) streams one API process keeps open, in all and per client address (TRUST_PROXY decides which). */
    SSE_MAX_CONNECTIONS: integer(500, 1, 100_000),
    SSE_MAX_CONNECTIONS_PER_IP: integer(10, 1, 10_000),

    TEMPORAL_ADDRESS: optionalText,
    TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
    TEMPORAL_TASK_QUEUE: z.string().min(1).default('campaigns'),
    TEMPORAL_STRIPE_TASK_QUEUE: z.string().min(1).default('stripe'),
    STRIPE_ACTIVITIES_PER_SECOND: z.coerce.number().positive().max(100).default(20),
    /** Stripe requests per second of one worker process, overall and to any one endpoint (default: Stripe's limit for the key's mode). */
    STRIPE_REQUESTS_PER_SECOND: z.coerce.number().positive().max(1000).optional(),
    STRIPE_ENDPOINT_REQUESTS_PER_SECOND: z.coerce.number().positive().max(1000).optional(),
    SETTLEMENT_WINDOW_SIZE: integer(50, 1, 1000),
    SETTLEMENT_PAGE_SIZE: integer(500, 1, 5000),

    STRIPE_SECRET_KEY: optionalText.pipe(z.string().regex(/^(sk|rk)_(test|live)_/, 'must start with sk_test_, sk_live_, rk_test_ or rk_live_').optional()),
    STRIPE_API_BASE: optionalText.pipe(url.optional()),
    STRIPE_WEBHOOK_SECRET: optionalText.pipe(z.string().startsWith('whsec_', 'must start with whsec_').optional()),

    AUTH_SECRET: optionalText.pipe(z.string().min(32, 'must be at least 32 characters').optional()),
    TOKEN_TTL: duration('30d'),

    PLATFORM_FEE_BPS: integer(DEFAULT_PLATFORM_FEE_BPS, MIN_PLATFORM_FEE_BPS, MAX_PLATFORM_FEE_BPS),
    CAMPAIGN_MIN_DURATION: duration('1d'),
    CAMPAIGN_MAX_DURATION: duration('60d'),
    HOLD_WINDOW: duration('7d'),
    GRACE_WINDOW: duration('7d'),
    PAYOUT_DELAY: duration('14d'),
    REFUND_WINDOW: duration('90d'),
    /** How often a payout waiting for the campaign's funds to become available asks again. */
    PAYOUT_FUNDS_RETRY_INTERVAL: duration('1d'),
    /** How often a creator whose Connect account cannot receive the payout is reminded. */
    ONBOARDING_REMINDER_INTERVAL: duration('3d'),
    /** How long a campaign step stuck on an outage (Stripe down past its retries) waits before trying by itself. */
    STUCK_RETRY_INTERVAL: duration('15m'),
    /** Who bears a lost chargeback: the creator (taken off the payout, or reversed from it once paid) or the platform. */
    DISPUTE_RECOVERY: z.enum(['creator', 'platform']).default('creator'),
    /** Part of each payout held back against chargebacks (percent, 0 = none), and for how long before it is released. */
    PAYOUT_RESERVE_PERCENT: percentAsBps('0', 50),
    PAYOUT_RESERVE_DAYS: days('180d'),

    /** Velocity limits per hour (src/abuse/velocity-limits.ts): card attempts weighted (decline 3, success 1), sign-ups counted. */
    CARD_ATTEMPTS_PER_USER: integer(DEFAULT_CARD_ATTEMPTS_PER_USER, 1, 1_000_000),
    CARD_ATTEMPTS_PER_IP: integer(DEFAULT_CARD_ATTEMPTS_PER_IP, 1, 1_000_000),
    CARD_ATTEMPTS_PER_CARD: integer(DEFAULT_CARD_ATTEMPTS_PER_CARD, 1, 1_000_000),
    SIGNUPS_PER_IP: integer(DEFAULT_SIGNUPS_PER_IP, 1, 1_000_000),

    SMTP_URL: optionalText.pipe(z.url({ protocol: /^smtps?$/ }).optional()),
    MAIL_FROM: z.string().default('Crowdfund <no-reply@crowdfund.local>'),
  })
  .superRefine((env, ctx) => {
    if (env.CAMPAIGN_MIN_DURATION > env.CAMPAIGN_MAX_DURATION) {
      ctx.addIssue({ code: 'custom', path: ['CAMPAIGN_MIN_DURATION'], message: 'must not exceed CAMPAIGN_MAX_DURATION' });
    }
    if (env.NODE_ENV === 'production' && !env.AUTH_SECRET) {
      ctx.addIssue({ code: 'custom', path: ['AUTH_SECRET'], message: 'is required in production' });
    }
    if (env.STRIPE_SECRET_KEY?.includes('_live_') && env.STRIPE_API_BASE) {
      ctx.addIssue({ code: 'custom', path: ['STRIPE_API_BASE'], message: 'must not redirect a live key' });
    }
  });

// Used only outside production, so that `npm start` works with no configuration.
const DEVELOPMENT_AUTH_SECRET = 'development-only-secret-do-not-use-in-production';

export type Config = ReturnType<typeof toConfig>;

/** Stripe allows 25 requests per second in test mode and 100 in live mode; an endpoint defaults to the same. */
function stripeRequestsPerSecond(env: z.output<typeof schema>) {
  const overall = env.STRIPE_REQUESTS_PER_SECOND ?? (env.STRIPE_SECRET_KEY?.includes('_live_') ? 100 : 25);
  return { overall, perEndpoint: env.STRIPE_ENDPOINT_REQUESTS_PER_SECOND ?? overall };
}

function toConfig(env: z.output<typeof schema>) {
  return {
    env: env.NODE_ENV,
    logLevel: env.LOG_LEVEL,
    database: { url: env.DATABASE_URL, poolSize: env.DATABASE_POOL_SIZE },
    http: {
      host: env.HOST,
      port: env.PORT,
      publicUrl: env.PUBLIC_URL.replace(/\/$/, ''),
      corsOrigins: env.CORS_ORIGINS,
      trustProxy: env.TRUST_PROXY,
      sse: { maxConnections: env.SSE_MAX_CONNECTIONS, maxConnectionsPerIp: env.SSE_MAX_CONNECTIONS_PER_IP },
    },
    temporal: {
      address: env.TEMPORAL_ADDRESS,
      namespace: env.TEMPORAL_NAMESPACE,
      taskQueue: env.TEMPORAL_TASK_QUEUE,
      stripeTaskQueue: env.TEMPORAL_STRIPE_TASK_QUEUE,
      stripeActivitiesPerSecond: env.STRIPE_ACTIVITIES_PER_SECOND,
      stripeRequestsPerSecond: stripeRequestsPerSecond(env),
      settlementWindowSize: env.SETTLEMENT_WINDOW_SIZE,
      settlementPageSize: env.SETTLEMENT_PAGE_SIZE,
    },
    stripe: {
      secretKey: env.STRIPE_SECRET_KEY,
      apiBase: env.STRIPE_API_BASE,
      webhookSecret: env.STRIPE_WEBHOOK_SECRET,
    },
    auth: { secret: env.AUTH_SECRET ?? DEVELOPMENT_AUTH_SECRET, tokenTtlMs: env.TOKEN_TTL },
    campaigns: {
      platformFeeBps: env.PLATFORM_FEE_BPS,
      minDurationMs: env.CAMPAIGN_MIN_DURATION,
      maxDurationMs: env.CAMPAIGN_MAX_DURATION,
      holdWindowMs: env.HOLD_WINDOW,
      graceWindowMs: env.GRACE_WINDOW,
      payoutDelayMs: env.PAYOUT_DELAY,
      refundWindowMs: env.REFUND_WINDOW,
      fundsRetryIntervalMs: env.PAYOUT_FUNDS_RETRY_INTERVAL,
      onboardingReminderIntervalMs: env.ONBOARDING_REMINDER_INTERVAL,
      stuckRetryIntervalMs: env.STUCK_RETRY_INTERVAL,
      payoutReserveBps: env.PAYOUT_RESERVE_PERCENT,
      payoutReservePeriodMs: env.PAYOUT_RESERVE_DAYS,
    },
    mail: { smtpUrl: env.SMTP_URL, from: env.MAIL_FROM },
    disputes: { recovery: env.DISPUTE_RECOVERY },
    abuse: {
      cardAttemptsPerUser: env.CARD_ATTEMPTS_PER_USER,
      cardAttemptsPerIp: env.CARD_ATTEMPTS_PER_IP,
      cardAttemptsPerCard: env.CARD_ATTEMPTS_PER_CARD,
      signupsPerIp: env.SIGNUPS_PER_IP,
    },
  };
}

/** The environment variables this file reads: docker-compose.yml and the README are checked against it. */
export const CONFIG_VARIABLES = Object.keys(schema.shape);

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((line) => `  - ${line}`).join('\n')}`);
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const variable = issue.path.join('.') || '(environment)';
        const given = typeof issue.path[0] === 'string' ? env[issue.path[0]] : undefined;
        // Secrets are named, never echoed.
        const shown = given === undefined || /SECRET|KEY|DATABASE_URL|SMTP_URL/.test(variable) ? '' : ` (got ${JSON.stringify(given)})`;
        return `${variable}: ${issue.message}${shown}`;
      }),
    );
  }
  return toConfig(parsed.data);
}
