/**
 * A client for the Stripe stand-in's test controls under `/_standin/`, driven over HTTP as any process would: the
 * tests, the benchmarks and `npm run demo` move its clock, inject faults, read its request log and complete 3-D
 * Secure as a backer's browser would.
 */
import type { Fault, LoggedRequest } from './server';

/** The stand-in accepts any well-formed test key; this is the one the project's own processes use. */
export const STANDIN_SECRET_KEY = 'sk_test_standin';

export interface StandinControls {
  advanceClock(seconds: number): Promise<void>;
  injectFault(fault: Fault): Promise<void>;
  clearFaults(): Promise<void>;
  requests(): Promise<LoggedRequest[]>;
  clearRequests(): Promise<void>;
  /**
   * Requests per second to each endpoint before 429s, as Stripe limits them, and to all endpoints together
   * (`overall`, default 4 x `perSecond` as in Stripe's live mode); 0 lifts a limit.
   */
  setRateLimit(perSecond: number, options?: { overall?: number }): Promise<void>;
  /** Replaces the exchange rates it names: settlement-currency units per unit of each currency (`{ eur: 1.08 }`). */
  setExchangeRates(rates: Record<string, number>): Promise<void>;
  /** Completes (or fails) the 3-D Secure step of an intent, as the backer's browser would. */
  authenticate(kind: 'payment_intents' | 'setup_intents', id: string, options?: { fail?: boolean }): Promise<void>;
}

export function standinControls(baseUrl: string): StandinControls {
  const control = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    });
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
    return response.json() as Promise<unknown>;
  };
  return {
    advanceClock: async (seconds) => void (await control('POST', '/_standin/clock/advance', { seconds })),
    injectFault: async (fault) => void (await control('POST', '/_standin/faults', fault)),
    clearFaults: async () => void (await control('DELETE', '/_standin/faults')),
    requests: () => control('GET', '/_standin/requests') as Promise<LoggedRequest[]>,
    clearRequests: async () => void (await control('DELETE', '/_standin/requests')),
    setRateLimit: async (perSecond, options = {}) => void (await control('POST', '/_standin/rate-limit', { perSecond, ...(options.overall === undefined ? {} : { overall: options.overall }) })),
    setExchangeRates: async (rates) => void (await control('POST', '/_standin/fx', { rates })),
    authenticate: async (kind, id, options = {}) => void (await control('POST', `/_standin/${kind}/${id}/authenticate`, { fail: Boolean(options.fail) })),
  };
}
