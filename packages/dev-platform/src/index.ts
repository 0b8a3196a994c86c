/**
 * The services `npm start` runs when nothing real is configured: an embedded Postgres, the Temporal stand-in in real
 * time with Temporal UI in front of it (on `temporal.uiPort`) and the Stripe stand-in. The caller asks only for
 * those it has no real one of; `close()` stops what started, last started first.
 */
import { join } from 'node:path';
import { STANDIN_SECRET_KEY, startStripeStandin } from '@crowdfund/stripe-standin';
import { startTemporalStandin } from '@crowdfund/temporal-standin';
import { startTemporalUi, TEMPORAL_UI } from '@crowdfund/temporal-ui';
import { startEmbeddedPostgres } from './embedded-postgres';

export { startEmbeddedPostgres, type RunningPostgres } from './embedded-postgres';

export interface DevPlatformOptions {
  /** Where the embedded Postgres keeps its data between runs (in `<dataDir>/postgres`). */
  dataDir: string;
  postgres?: { port: number };
  /**
   * `searchAttributes`: name -> type, registered before any workflow starts. `uiPort` (0: a free one): also serve
   * Temporal UI there, on the stand-in's HTTP API.
   */
  temporal?: { port: number; searchAttributes?: Record<string, string>; uiPort?: number };
  /** `settlementCurrency`: the platform account's (default `usd`); Stripe converts every charge into it. */
  stripe?: { port: number; settlementCurrency?: string };
}

export interface DevPlatform {
  postgres?: { url: string; dataDir: string };
  /** `uiUrl`: with `temporal.uiPort`, where Temporal UI answers. */
  temporal?: { address: string; uiUrl?: string };
  /** `secretKey` is the key the stand-in expects from the `stripe` client pointed at `url`. */
  stripe?: { url: string; secretKey: string };
  close(): Promise<void>;
}

export async function startDevPlatform(options: DevPlatformOptions): Promise<DevPlatform> {
  const stops: Array<() => Promise<void>> = [];
  const close = async () => {
    for (const stop of stops.splice(0).reverse()) {
      await stop().catch((error: unknown) => console.error('while stopping:', error));
    }
  };
  const platform: DevPlatform = { close };
  try {
    if (options.postgres) {
      const dataDir = join(options.dataDir, 'postgres');
      const postgres = await startEmbeddedPostgres({ dataDir, port: options.postgres.port });
      stops.push(() => postgres.stop());
      platform.postgres = { url: postgres.url, dataDir };
    }
    if (options.temporal) {
      const temporal = await startTemporalStandin({ port: options.temporal.port, timeSkipping: false, searchAttributes: options.temporal.searchAttributes });
      stops.push(() => temporal.close());
      platform.temporal = { address: temporal.address };
      if (options.temporal.uiPort !== undefined) {
        const ui = await startTemporalUi({ port: options.temporal.uiPort, api: temporal.httpApi({ uiVersion: TEMPORAL_UI.version }) });
        stops.push(() => ui.close());
        platform.temporal.uiUrl = ui.url;
      }
    }
    if (options.stripe) {
      const { port, settlementCurrency } = options.stripe;
      const stripe = await startStripeStandin({ port, ...(settlementCurrency ? { settlementCurrency } : {}) });
      stops.push(() => stripe.close());
      platform.stripe = { url: stripe.url, secretKey: STANDIN_SECRET_KEY };
    }
    return platform;
  } catch (error) {
    await close();
    throw error;
  }
}
