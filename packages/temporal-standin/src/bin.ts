#!/usr/bin/env node
/**
 * `temporal-standin`: the executable @temporalio/testing launches through `existing-path`. It accepts both argument
 * shapes the SDK passes:
 *   <port> [--search-attribute Name=Type ...]                 test server, time skipping (createTimeSkipping)
 *   server start-dev --port P [--namespace N] [--ip IP] ...    dev server, real time (createLocal)
 * `--http-port P` also serves Temporal's HTTP API (/api/v1) there, as Temporal's dev server does.
 * Quiet by default (the launcher forwards its output); `--log-level debug` traces RPCs.
 */
import { startTemporalStandin } from './server';

function parse(argv: string[]) {
  const devMode = argv[0] === 'server' && argv[1] === 'start-dev';
  const args = devMode ? argv.slice(2) : argv;
  let port = devMode ? 7233 : Number(args[0]);
  let ip = '127.0.0.1';
  let logLevel: 'quiet' | 'debug' = 'quiet';
  let httpPort: number | undefined;
  const namespaces: string[] = [];
  const searchAttributes: Record<string, string> = {};
  for (let i = devMode ? 0 : 1; i < args.length; i++) {
    const arg = args[i]!;
    const value = () => args[++i] ?? '';
    if (arg === '--port' || arg === '-p') port = Number(value());
    else if (arg === '--ip') ip = value();
    else if (arg === '--http-port') httpPort = Number(value());
    else if (arg === '--namespace' || arg === '-n') namespaces.push(value());
    else if (arg === '--search-attribute') {
      const [name, type] = value().split('=');
      if (name && type) searchAttributes[name] = type;
    } else if (arg === '--log-level') logLevel = value() === 'debug' ? 'debug' : 'quiet';
    else if (['--log-format', '--db-filename', '--ui-port', '--dynamic-config-value'].includes(arg)) value();
    // Anything else (--headless, --enable-time-skipping) needs no action here.
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error('usage: temporal-standin <port> [--search-attribute Name=Type] | temporal-standin server start-dev --port <port>');
  }
  if (httpPort !== undefined && (!Number.isInteger(httpPort) || httpPort < 0 || httpPort > 65535)) throw new Error('--http-port: expected a port number');
  return { devMode, port, ip, logLevel, namespaces, searchAttributes, httpPort };
}

async function main(): Promise<void> {
  const options = parse(process.argv.slice(2));
  const server = await startTemporalStandin({
    port: options.port,
    host: options.ip === '0.0.0.0' ? '0.0.0.0' : '127.0.0.1',
    timeSkipping: !options.devMode,
    searchAttributes: options.searchAttributes,
    logLevel: options.logLevel,
    ...(options.httpPort !== undefined ? { httpPort: options.httpPort } : {}),
  });
  for (const namespace of options.namespaces) server.engine.namespace(namespace);
  if (options.logLevel === 'debug') process.stderr.write(`[temporal-standin] listening on ${server.address}${server.httpAddress ? `, HTTP API on ${server.httpAddress}` : ''}\n`);
  const stop = () => void server.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`temporal-standin: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
