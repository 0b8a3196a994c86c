#!/usr/bin/env node
/**
 * `stripe-standin --port N [--rate-limit R] [--overall-rate-limit O] [--settlement-currency usd]`: a local Stripe API for the official `stripe` package
 * (`new Stripe(key, { host: '127.0.0.1', port: N, protocol: 'http' })`). Prints `{"port": N}` once it listens.
 */
import { parseArgs } from 'node:util';
import { startStripeStandin } from './server';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, 'rate-limit': { type: 'string' }, 'overall-rate-limit': { type: 'string' }, host: { type: 'string', default: '127.0.0.1' }, 'settlement-currency': { type: 'string', default: 'usd' } } });
  const port = Number(values.port);
  const rateLimit = values['rate-limit'] === undefined ? undefined : Number(values['rate-limit']);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error('--port must be 0-65535');
  const overallRateLimit = values['overall-rate-limit'] === undefined ? undefined : Number(values['overall-rate-limit']);
  if (rateLimit !== undefined && !(rateLimit > 0)) throw new Error('--rate-limit must be a positive number');
  if (overallRateLimit !== undefined && !(overallRateLimit > 0)) throw new Error('--overall-rate-limit must be a positive number');
  const standin = await startStripeStandin({ port, host: values.host, settlementCurrency: values['settlement-currency'], ...(rateLimit ? { rateLimit } : {}), ...(overallRateLimit ? { overallRateLimit } : {}) });
  process.stdout.write(`${JSON.stringify({ port: standin.port })}\n`);
  const stop = () => void standin.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`stripe-standin: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
