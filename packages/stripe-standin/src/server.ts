/**
 * The Stripe stand-in's HTTP surface: Stripe's REST conventions (form-encoded bodies, bearer keys, idempotency
 * keys, `expand[]`, list pagination, error shapes), signed webhook deliveries, and test controls under
 * `/_standin/` (clock, faults, request log, 3-D Secure completion, onboarding links).
 */
import { createHash, createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type AddressInfo } from 'node:net';
import qs from 'qs';
import type Stripe from 'stripe';
import { invalidRequest, missing, StripeApiError } from './errors';
import { type FeeRule, newId, StripeState } from './state';

type Params = Record<string, unknown>;

export interface Fault {
  kind: '500' | '429' | 'latency' | 'reset' | 'lost';
  method?: string;
  /** A regular expression matched against the request path. */
  path?: string;
  /** A regular expression matched against the request's idempotency key (requests without one never match). */
  idempotencyKey?: string;
  /** Fire this many times (default: unlimited while `rate` applies). */
  count?: number;
  /** Probability per matching request, 0..1 (default 1). */
  rate?: number;
  /** For a `latency` fault: a fixed delay (default 1000 ms) ... */
  latencyMs?: number;
  /**
   * ... or a delay drawn per request, as Stripe's answers vary: half of them between `minMs` and `medianMs`, half
   * between `medianMs` and `maxMs`, log-uniform within each half (uniform if `minMs` is 0).
   */
  latency?: { minMs: number; medianMs: number; maxMs: number };
}

export interface LoggedRequest {
  /** When the request arrived (ms since the epoch, real time). */
  at: number;
  method: string;
  path: string;
  idempotencyKey?: string;
  status: number;
  replayed: boolean;
  fault?: Fault['kind'];
}

export interface StripeStandinOptions {
  port?: number;
  host?: string;
  /**
   * Requests per second to each endpoint (method and path, ids collapsed) before 429s, as Stripe limits each
   * endpoint (https://docs.stripe.com/rate-limits). Unlimited when absent.
   */
  rateLimit?: number;
  /** Requests per second to all endpoints together; 4 x `rateLimit` when absent (Stripe's live mode: 100 and 25). */
  overallRateLimit?: number;
  fee?: FeeRule;
  /** Base delay of webhook retries (doubling each time, 5 attempts). */
  webhookRetryMs?: number;
  /** The platform account's settlement currency: balances, fees and balance transactions are in it (default usd). */
  settlementCurrency?: string;
  /**
   * Real time after which a change Stripe makes later (a test card's dispute, a refund failing, a dispute decided)
   * happens even if the stand-in clock has not reached it (default 2000 ms; Infinity: only the clock).
   */
  realTimeFallbackMs?: number;
}

export interface RunningStripeStandin {
  url: string;
  host: string;
  port: number;
  state: StripeState;
  requests: LoggedRequest[];
  close(): Promise<void>;
}

interface StoredResponse {
  hash: string;
  status: number;
  body: string;
  at: number;
}

const IDEMPOTENCY_TTL_SECONDS = 24 * 3600;

export async function startStripeStandin(options: StripeStandinOptions = {}): Promise<RunningStripeStandin> {
  let baseUrl = '';
  const state = new StripeState(() => baseUrl, {
    ...(options.fee ? { fee: options.fee } : {}),
    ...(options.settlementCurrency ? { settlementCurrency: options.settlementCurrency } : {}),
    ...(options.realTimeFallbackMs !== undefined ? { realTimeFallbackMs: options.realTimeFallbackMs } : {}),
  });
  const idempotency = new Map<string, StoredResponse>();
  /** Keys of requests Stripe is still working on. */
  const inProgress = new Set<string>();
  const requests: LoggedRequest[] = [];
  let faults: Array<Fault & { fired: number }> = [];
  let rateLimit = options.rateLimit;
  let overallRateLimit = options.overallRateLimit ?? (rateLimit ? 4 * rateLimit : undefined);
  /** One token bucket per endpoint, and one for the account as a whole. */
  const buckets = new Map<string, { tokens: number; refilledAt: number }>();
  let overall = { tokens: overallRateLimit ?? Infinity, refilledAt: Date.now() };
  const deliveries = new WebhookDeliveries(state, options.webhookRetryMs ?? 1000);
  state.onEvent = (event) => deliveries.enqueue(event);
  // Changes Stripe makes later also happen as real time passes, not only when a request or the clock finds them.
  const ticker = setInterval(() => state.runDue(), 250);
  ticker.unref();

  const server = createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) send(res, 500, { error: { type: 'api_error', message: error instanceof Error ? error.message : String(error) } });
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://standin');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const raw = await readBody(req);
    const params = (method === 'GET' || method === 'DELETE' ? qs.parse(url.search.slice(1), { depth: 10 }) : parseBody(req, raw)) as Params;

    if (path.startsWith('/_standin/')) return controls(method, path, params, res);

    const log: LoggedRequest = { at: Date.now(), method, path, status: 0, replayed: false };
    const idempotencyKey = req.headers['idempotency-key'] as string | undefined;
    if (idempotencyKey) log.idempotencyKey = idempotencyKey;
    requests.push(log);
    const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      log.status = status;
      send(res, status, body, headers);
    };

    if (!/^Bearer (sk|rk)_(test|live)_\S+$/.test(req.headers.authorization ?? '')) {
      return reply(401, { error: { type: 'invalid_request_error', message: 'Invalid API Key provided. Use `Authorization: Bearer sk_test_...`.' } });
    }
    const endpoint = endpointOf(method, path);
    const bucket = buckets.get(endpoint) ?? { tokens: rateLimit ?? Infinity, refilledAt: Date.now() };
    buckets.set(endpoint, bucket);
    const limited = !takeToken(bucket, rateLimit) ? 'endpoint-rate' : !takeToken(overall, overallRateLimit) ? 'global-rate' : undefined;
    if (limited) {
      return reply(
        429,
        { error: { type: 'invalid_request_error', code: 'rate_limit', message: 'Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.' } },
        { 'stripe-rate-limited-reason': limited },
      );
    }

    const fault = pickFault(faults, method, path, idempotencyKey);
    if (fault) {
      log.fault = fault.kind;
      if (fault.kind === '500') return reply(500, { error: { type: 'api_error', message: 'An unknown error occurred (injected by the stand-in)' } });
      if (fault.kind === '429') return reply(429, { error: { type: 'invalid_request_error', code: 'rate_limit', message: 'Request rate limit exceeded (injected by the stand-in).' } });
      if (fault.kind === 'reset') {
        log.status = -1;
        req.socket.destroy();
        return;
      }
    }
    const delayed = () => (fault?.kind === 'latency' ? new Promise((resolve) => setTimeout(resolve, latencyOf(fault))) : Promise.resolve());

    // Idempotency is decided when the request arrives, as Stripe does: the same key and parameters replay the first
    // response, other parameters are an error, and a request whose twin is still in progress is told so (409). A
    // delayed request must not find its key expired by time that passed while it was held.
    const hash = createHash('sha256').update(`${method} ${path} ${raw}`).digest('hex');
    const keyed = method === 'POST' && idempotencyKey !== undefined;
    if (keyed) {
      if (inProgress.has(idempotencyKey)) {
        return reply(409, {
          error: {
            type: 'idempotency_error',
            code: 'idempotency_key_in_use',
            message: 'There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through). Please try again later.',
          },
        });
      }
      const stored = idempotency.get(idempotencyKey);
      if (stored && state.nowSeconds - stored.at < IDEMPOTENCY_TTL_SECONDS) {
        if (stored.hash !== hash) {
          return reply(400, {
            error: {
              type: 'idempotency_error',
              message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idempotencyKey}' if you meant to execute a different request.`,
            },
          });
        }
        await delayed();
        log.replayed = true;
        log.status = stored.status;
        // A replayed answer can be lost on the way back like any other.
        if (fault?.kind === 'lost') {
          req.socket.destroy();
          return;
        }
        res.writeHead(stored.status, { 'content-type': 'application/json', 'idempotent-replayed': 'true', 'idempotency-key': idempotencyKey, 'request-id': newId('req') });
        res.end(stored.body);
        return;
      }
      inProgress.add(idempotencyKey);
    }
    try {
      await delayed();
    } finally {
      if (keyed) inProgress.delete(idempotencyKey);
    }

    let status = 200;
    let body: unknown;
    try {
      state.runDue();
      body = route(state, method, path, params);
      const expand = (params.expand as string[] | undefined) ?? [];
      body = expandObject(state, body, expand);
    } catch (error) {
      if (!(error instanceof StripeApiError)) throw error;
      status = error.status;
      body = error.toJSON();
    }
    const text = JSON.stringify(body);
    // Stripe saves the result of any request that started executing, errors included.
    if (method === 'POST' && idempotencyKey && status !== 429) idempotency.set(idempotencyKey, { hash, status, body: text, at: state.nowSeconds });
    if (fault?.kind === 'lost') {
      log.status = status;
      req.socket.destroy();
      return;
    }
    log.status = status;
    res.writeHead(status, { 'content-type': 'application/json', 'request-id': newId('req'), ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}) });
    res.end(text);
  }

  function controls(method: string, path: string, params: Params, res: ServerResponse): void {
    const match = (pattern: RegExp) => pattern.exec(path);
    let m: RegExpExecArray | null;
    try {
      if (method === 'POST' && path === '/_standin/clock/advance') {
        state.runDue();
        state.advance(Number(params.seconds ?? 0));
        return send(res, 200, { now: state.nowSeconds });
      }
      if (method === 'GET' && path === '/_standin/clock') return send(res, 200, { now: state.nowSeconds });
      if (method === 'POST' && path === '/_standin/faults') {
        const fault = params as unknown as Fault;
        if (!['500', '429', 'latency', 'reset', 'lost'].includes(String(fault.kind))) throw invalidRequest('kind must be one of 500, 429, latency, reset, lost', 'kind');
        faults.push({
          kind: fault.kind,
          ...(fault.method ? { method: String(fault.method).toUpperCase() } : {}),
          ...(fault.path ? { path: String(fault.path) } : {}),
          ...(fault.idempotencyKey ? { idempotencyKey: String(fault.idempotencyKey) } : {}),
          ...(fault.count !== undefined ? { count: Number(fault.count) } : {}),
          ...(fault.rate !== undefined ? { rate: Number(fault.rate) } : {}),
          ...(fault.latencyMs !== undefined ? { latencyMs: Number(fault.latencyMs) } : {}),
          ...(fault.latency !== undefined ? { latency: latencyRange(fault.latency) } : {}),
          fired: 0,
        });
        return send(res, 200, { faults: faults.length });
      }
      if (method === 'DELETE' && path === '/_standin/faults') {
        faults = [];
        return send(res, 200, { faults: 0 });
      }
      if (method === 'POST' && path === '/_standin/rate-limit') {
        const perSecond = Number(params.perSecond ?? 0);
        const overallPerSecond = params.overall === undefined ? 4 * perSecond : Number(params.overall);
        if (!(perSecond >= 0)) throw invalidRequest('perSecond must be 0 (unlimited) or more', 'perSecond');
        if (!(overallPerSecond >= 0)) throw invalidRequest('overall must be 0 (unlimited) or more', 'overall');
        rateLimit = perSecond || undefined;
        overallRateLimit = overallPerSecond || undefined;
        buckets.clear();
        overall = { tokens: overallRateLimit ?? Infinity, refilledAt: Date.now() };
        return send(res, 200, { perSecond, overall: overallPerSecond });
      }
      if (method === 'POST' && path === '/_standin/fx') {
        if (!params.rates || typeof params.rates !== 'object') throw invalidRequest('rates must be an object of settlement-currency units per unit, e.g. { "eur": 1.08 }', 'rates');
        const rates = state.rates.replace(params.rates as Record<string, unknown>);
        return send(res, 200, { settlement_currency: state.settlementCurrency, rates });
      }
      if (method === 'GET' && path === '/_standin/fx') {
        const currency = typeof params.currency === 'string' ? params.currency.toLowerCase() : undefined;
        return send(res, 200, { settlement_currency: state.settlementCurrency, ...(currency ? { rate: state.rates.rate(currency) } : {}) });
      }
      if (method === 'GET' && path === '/_standin/requests') return send(res, 200, requests);
      if (method === 'DELETE' && path === '/_standin/requests') {
        requests.length = 0;
        return send(res, 200, { requests: 0 });
      }
      if (method === 'POST' && (m = match(/^\/_standin\/(payment_intents|setup_intents)\/([^/]+)\/authenticate$/))) {
        const kind = m[1] as 'payment_intents' | 'setup_intents';
        return send(res, 200, state.authenticate(kind, m[2]!, params.fail !== 'true' && params.fail !== true));
      }
      if (method === 'GET' && (m = match(/^\/_standin\/onboarding\/([^/]+)$/))) {
        const { returnUrl } = state.completeOnboarding(m[1]!);
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end(`<p>Onboarding complete.</p>${returnUrl ? `<a href="${returnUrl}">Return</a>` : ''}`);
        return;
      }
      throw missing('stand-in control', path);
    } catch (error) {
      if (error instanceof StripeApiError) return send(res, error.status, error.toJSON());
      throw error;
    }
  }

  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  baseUrl = `http://${host}:${port}`;
  return {
    url: baseUrl,
    host,
    port,
    state,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(ticker);
        deliveries.stop();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString()));
    req.on('error', reject);
  });
}

function parseBody(req: IncomingMessage, raw: string): Params {
  if (!raw) return {};
  if ((req.headers['content-type'] ?? '').includes('application/json')) return JSON.parse(raw) as Params;
  return qs.parse(raw, { depth: 10, arrayLimit: 1000 }) as Params;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', 'request-id': newId('req'), ...headers });
  res.end(JSON.stringify(body));
}

/** The endpoint a request is limited under: its method and route, ids collapsed (`POST /v1/payment_intents/:id/capture`). */
function endpointOf(method: string, path: string): string {
  const parts = path.split('/').filter(Boolean);
  return `${method} /${parts.map((part, index) => (index === 2 || index === 4 ? ':id' : part)).join('/')}`;
}

function takeToken(bucket: { tokens: number; refilledAt: number }, rate: number | undefined): boolean {
  if (!rate) return true;
  const now = Date.now();
  bucket.tokens = Math.min(rate, bucket.tokens + ((now - bucket.refilledAt) / 1000) * rate);
  bucket.refilledAt = now;
  if (bucket.tokens < 1) return false;
  bucket.tokens -= 1;
  return true;
}

/** A latency fault's `latency` as posted to the controls, checked to be an ordered range. */
function latencyRange(value: unknown): NonNullable<Fault['latency']> {
  const { minMs, medianMs, maxMs } = (value ?? {}) as Record<string, unknown>;
  const range = { minMs: Number(minMs), medianMs: Number(medianMs), maxMs: Number(maxMs) };
  if (!(range.minMs >= 0 && range.minMs <= range.medianMs && range.medianMs <= range.maxMs)) {
    throw invalidRequest('latency must be { minMs, medianMs, maxMs } with 0 <= minMs <= medianMs <= maxMs', 'latency');
  }
  return range;
}

/** A latency fault's delay for one request, in ms. */
function latencyOf(fault: Fault): number {
  if (!fault.latency) return fault.latencyMs ?? 1000;
  const { minMs, medianMs, maxMs } = fault.latency;
  const [low, high] = Math.random() < 0.5 ? [minMs, medianMs] : [medianMs, maxMs];
  return low > 0 ? low * (high / low) ** Math.random() : low + (high - low) * Math.random();
}

function pickFault(faults: Array<Fault & { fired: number }>, method: string, path: string, idempotencyKey: string | undefined): Fault | undefined {
  for (const fault of faults) {
    if (fault.method && fault.method !== method) continue;
    if (fault.path && !new RegExp(fault.path).test(path)) continue;
    if (fault.idempotencyKey && !(idempotencyKey !== undefined && new RegExp(fault.idempotencyKey).test(idempotencyKey))) continue;
    if (fault.count !== undefined && fault.fired >= fault.count) continue;
    if (fault.rate !== undefined && Math.random() >= fault.rate) continue;
    fault.fired++;
    return fault;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Routing

function route(state: StripeState, method: string, path: string, params: Params): unknown {
  const parts = path.split('/').filter(Boolean);
  if (parts[0] !== 'v1') throw missing('route', path);
  const [, resource, id, action, sub] = parts;
  const key = `${method} ${resource}${id ? '/:id' : ''}${action ? `/${action}` : ''}${sub ? '/:sub' : ''}`;
  switch (key) {
    case 'POST customers':
      return state.createCustomer(params);
    case 'GET customers/:id':
      return state.customer(id!);
    case 'POST customers/:id':
      return state.updateCustomer(id!, params);
    case 'GET customers/:id/payment_methods':
      state.customer(id!);
      return list([...state.paymentMethods.values()].map((m) => m.object).filter((m) => m.customer === id), params, `/v1/customers/${id}/payment_methods`);
    case 'GET payment_methods':
      return list([...state.paymentMethods.values()].map((m) => m.object).filter((m) => !params.customer || m.customer === params.customer), params, '/v1/payment_methods');
    case 'GET payment_methods/:id':
      return state.paymentMethod(id!, 'payment_method').object;
    case 'POST payment_methods/:id/attach':
      if (!params.customer) throw invalidRequest('Missing required param: customer.', 'customer');
      return state.attach(id!, params.customer as string);
    case 'POST payment_methods/:id/detach':
      return state.detach(id!);
    case 'POST setup_intents':
      return state.createSetupIntent(params);
    case 'GET setup_intents':
      return list(
        [...state.setupIntents.values()].filter((intent) => (!params.customer || intent.customer === params.customer) && (!params.payment_method || intent.payment_method === params.payment_method)),
        params,
        '/v1/setup_intents',
      );
    case 'GET setup_intents/:id':
      return state.setupIntent(id!);
    case 'POST setup_intents/:id/confirm':
      return state.confirmSetupIntent(id!, params);
    case 'POST payment_intents':
      return state.createPaymentIntent(params);
    case 'GET payment_intents':
      return list(
        [...state.paymentIntents.values()].filter((intent) => !params.customer || intent.customer === params.customer),
        params,
        '/v1/payment_intents',
      );
    case 'GET payment_intents/:id':
      return state.paymentIntent(id!);
    case 'POST payment_intents/:id':
      return updateMetadata(state.paymentIntent(id!), params);
    case 'POST payment_intents/:id/confirm':
      return state.confirmPaymentIntent(id!, params);
    case 'POST payment_intents/:id/capture':
      return state.capturePaymentIntent(id!, params);
    case 'POST payment_intents/:id/cancel':
      return state.cancelPaymentIntent(id!, params);
    case 'GET charges':
      return list(
        [...state.charges.values()].filter((charge) => (!params.payment_intent || charge.payment_intent === params.payment_intent) && (!params.customer || charge.customer === params.customer)),
        params,
        '/v1/charges',
      );
    case 'GET charges/:id':
      return lookup(state.charges, 'charge', id!);
    case 'GET balance_transactions':
      return list(
        [...state.balanceTransactions.values()].filter(
          (t) => (!params.source || t.source === params.source) && (!params.type || t.type === params.type) && (!params.currency || t.currency === params.currency),
        ),
        params,
        '/v1/balance_transactions',
      );
    case 'GET balance_transactions/:id':
      return lookup(state.balanceTransactions, 'balance_transaction', id!);
    case 'GET disputes':
      return list(
        [...state.disputes.values()].filter((d) => (!params.charge || d.charge === params.charge) && (!params.payment_intent || d.payment_intent === params.payment_intent)),
        params,
        '/v1/disputes',
      );
    case 'GET disputes/:id':
      return state.dispute(id!);
    case 'POST disputes/:id':
      return state.updateDispute(id!, params);
    case 'POST disputes/:id/close':
      return state.acceptDispute(id!);
    case 'POST refunds':
      return state.createRefund(params);
    case 'GET refunds':
      return list([...state.refunds.values()].filter((r) => !params.payment_intent || r.payment_intent === params.payment_intent), params, '/v1/refunds');
    case 'GET refunds/:id':
      return lookup(state.refunds, 'refund', id!);
    case 'POST accounts':
      return state.createAccount(params);
    case 'GET accounts/:id':
      return state.account(id!);
    case 'GET account':
      return state.platformAccount;
    case 'POST account_links':
      if (!params.account) throw invalidRequest('Missing required param: account.', 'account');
      return state.createAccountLink(params);
    case 'GET balance':
      return state.balance();
    case 'POST transfers':
      if (!params.destination) throw invalidRequest('Missing required param: destination.', 'destination');
      return state.createTransfer(params);
    case 'GET transfers':
      return list(
        [...state.transfers.values()].filter((t) => (!params.transfer_group || t.transfer_group === params.transfer_group) && (!params.destination || t.destination === params.destination)),
        params,
        '/v1/transfers',
      );
    case 'GET transfers/:id':
      return state.transfer(id!);
    case 'POST transfers/:id/reversals':
      return state.createTransferReversal(id!, params);
    case 'GET transfers/:id/reversals':
      // Kept newest first on the transfer; `list` expects oldest first.
      return list([...state.transfer(id!).reversals.data].reverse(), params, `/v1/transfers/${id}/reversals`);
    case 'GET transfers/:id/reversals/:sub':
      return state.transfer(id!).reversals.data.find((reversal) => reversal.id === sub) ?? (() => { throw missing('transfer_reversal', sub!); })();
    case 'GET events':
      return list(state.events.filter((event) => !params.type || event.type === params.type), params, '/v1/events');
    case 'GET events/:id':
      return state.events.find((event) => event.id === id) ?? (() => { throw missing('event', id!); })();
    case 'POST webhook_endpoints': {
      if (!params.url) throw invalidRequest('Missing required param: url.', 'url');
      const endpoint = {
        id: newId('we'),
        object: 'webhook_endpoint',
        url: params.url as string,
        enabled_events: (params.enabled_events as string[]) ?? ['*'],
        status: 'enabled',
        created: state.nowSeconds,
        livemode: false,
        metadata: {},
        secret: `whsec_${newId('s').slice(2)}`,
      } satisfies Partial<Stripe.WebhookEndpoint> as Stripe.WebhookEndpoint & { secret: string };
      state.webhookEndpoints.set(endpoint.id, endpoint);
      return endpoint;
    }
    case 'GET webhook_endpoints':
      return list([...state.webhookEndpoints.values()].map(({ secret: _secret, ...endpoint }) => endpoint), params, '/v1/webhook_endpoints');
    default:
      throw missing('route', `${method} ${path}`);
  }
}

function lookup<T>(map: Map<string, T>, kind: string, id: string): T {
  const value = map.get(id);
  if (!value) throw missing(kind, id);
  return value;
}

function updateMetadata<T extends { metadata: Stripe.Metadata | null }>(object: T, params: Params): T {
  if (params.metadata) object.metadata = { ...(object.metadata ?? {}), ...(params.metadata as Record<string, string>) };
  return object;
}

/** Stripe's cursor pagination: newest first, `limit` (1-100, default 10), `starting_after`. */
function list<T extends { id?: string; created?: number }>(items: T[], params: Params, url: string): Stripe.ApiList<T> {
  const limit = params.limit === undefined ? 10 : Number(params.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw invalidRequest('Invalid integer: limit must be between 1 and 100.', 'limit');
  const ordered = [...items].reverse();
  let start = 0;
  if (params.starting_after) {
    const index = ordered.findIndex((item) => item.id === params.starting_after);
    if (index < 0) throw missing('object', params.starting_after as string, 'starting_after');
    start = index + 1;
  }
  const data = ordered.slice(start, start + limit);
  return { object: 'list', data, has_more: start + limit < ordered.length, url };
}

/** `expand[]`: replaces ids with their objects along each dotted path. */
function expandObject(state: StripeState, body: unknown, paths: string[]): unknown {
  if (!paths.length || !body || typeof body !== 'object') return body;
  const copy = structuredClone(body) as Record<string, unknown>;
  for (const path of paths) {
    let targets: Array<Record<string, unknown>> = [copy];
    for (const field of path.split('.')) {
      const next: Array<Record<string, unknown>> = [];
      for (const target of targets) {
        const value = target[field];
        if (Array.isArray(value)) {
          // A list's `data` (expand[]=data.charge): each element is expanded along the rest of the path.
          next.push(...value.filter((item): item is Record<string, unknown> => Boolean(item) && typeof item === 'object'));
        } else if (typeof value === 'string') {
          const resolved = resolveId(state, value);
          if (resolved) {
            target[field] = structuredClone(resolved);
            next.push(target[field] as Record<string, unknown>);
          }
        } else if (value && typeof value === 'object') {
          next.push(value as Record<string, unknown>);
        }
      }
      targets = next;
    }
  }
  return copy;
}

function resolveId(state: StripeState, id: string): object | undefined {
  const prefix = id.split('_')[0];
  switch (prefix) {
    case 'ch':
      return state.charges.get(id);
    case 'txn':
      return state.balanceTransactions.get(id);
    case 'pi':
      return state.paymentIntents.get(id);
    case 'pm':
      return state.paymentMethods.get(id)?.object;
    case 'cus':
      return state.customers.get(id);
    case 'acct':
      return state.accounts.get(id);
    case 'tr':
      return state.transfers.get(id);
    case 're':
      return state.refunds.get(id);
    case 'dp':
      return state.disputes.get(id);
    case 'seti':
      return state.setupIntents.get(id);
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Webhooks

/**
 * Delivers each event to every endpoint that wants it, in order, signed as Stripe signs (`t=...,v1=HMAC-SHA256`
 * of `t.payload` with the endpoint secret), retried with doubling back-off on a non-2xx answer or no answer.
 */
class WebhookDeliveries {
  private readonly queues = new Map<string, Stripe.Event[]>();
  private readonly running = new Set<string>();
  private stopped = false;

  constructor(
    private readonly state: StripeState,
    private readonly retryMs: number,
  ) {}

  enqueue(event: Stripe.Event): void {
    for (const endpoint of this.state.webhookEndpoints.values()) {
      if (!endpoint.enabled_events.includes('*') && !endpoint.enabled_events.includes(event.type)) continue;
      const queue = this.queues.get(endpoint.id) ?? [];
      queue.push(event);
      this.queues.set(endpoint.id, queue);
      void this.drain(endpoint);
    }
  }

  stop(): void {
    this.stopped = true;
  }

  private async drain(endpoint: Stripe.WebhookEndpoint & { secret: string }): Promise<void> {
    if (this.running.has(endpoint.id)) return;
    this.running.add(endpoint.id);
    try {
      const queue = this.queues.get(endpoint.id)!;
      while (queue.length > 0 && !this.stopped) {
        const event = queue[0]!;
        for (let attempt = 0; attempt < 5 && !this.stopped; attempt++) {
          if (await this.deliver(endpoint, event)) break;
          await new Promise((resolve) => setTimeout(resolve, this.retryMs * 2 ** attempt));
        }
        queue.shift();
      }
    } finally {
      this.running.delete(endpoint.id);
    }
  }

  private async deliver(endpoint: Stripe.WebhookEndpoint & { secret: string }, event: Stripe.Event): Promise<boolean> {
    const payload = JSON.stringify(event);
    // Signed with the wall clock: receivers check the timestamp against their own clock.
    const timestamp = Math.floor(Date.now() / 1000);
    const signature = createHmac('sha256', endpoint.secret).update(`${timestamp}.${payload}`).digest('hex');
    try {
      const response = await fetch(endpoint.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'stripe-signature': `t=${timestamp},v1=${signature}` },
        body: payload,
        signal: AbortSignal.timeout(10_000),
      });
      return response.ok;
    } catch {
      return false;
    }
  }
}
