/**
 * Temporal UI's static files (assets/, built from its source by scripts/build-ui.sh) on node:http, as Temporal's UI
 * server serves them: the hashed files under /_app, index.html for every other path (the UI routes in the
 * browser), /render for the markdown the UI frames (render-markdown.ts), and /api/v1 handed to the HTTP API it is
 * given (the Temporal stand-in's). serve-static does the files (types, ETags, ranges, HEAD, no path escapes).
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type AddressInfo } from 'node:net';
import { join } from 'node:path';
import serveStatic from 'serve-static';
import { sendRenderedMarkdown } from './render-markdown';

// From the sources (jest) or from dist/src: the package's root holds assets/ and ui-version.json.
const PACKAGE_ROOT = join(__dirname, '..').replace(/[\\/]dist$/, '');
const ASSETS = join(PACKAGE_ROOT, 'assets');

/** The vendored build: Temporal UI's version, the tag and commit it was built from. */
export const TEMPORAL_UI = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'ui-version.json'), 'utf8')) as { version: string; tag: string; commit: string };

export interface TemporalUiOptions {
  /** 0: a free port. */
  port: number;
  host?: string;
  /** Answers /api/v1/... (Temporal's HTTP API and the UI server's settings), e.g. the stand-in's `httpApi()`. */
  api: (request: IncomingMessage, response: ServerResponse) => void;
}

export interface RunningTemporalUi {
  url: string;
  close(): Promise<void>;
}

export async function startTemporalUi(options: TemporalUiOptions): Promise<RunningTemporalUi> {
  const index = readFileSync(join(ASSETS, 'index.html'));
  const files = serveStatic(ASSETS, {
    index: false,
    // Hashed names never change content; index.html (below) is always asked for again.
    setHeaders: (response, path) => {
      if (path.includes(`${join('_app', 'immutable')}`)) response.setHeader('cache-control', 'public, max-age=31536000, immutable');
    },
  });
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const path = url.pathname;
    if (path === '/api/v1' || path.startsWith('/api/v1/')) return options.api(request, response);
    if (path === '/render' && request.method === 'GET') return sendRenderedMarkdown(response, url);
    files(request, response, () => {
      // Not a file: a missing asset is a 404; any other GET is one of the UI's own routes.
      if (path.startsWith('/_app/') || (request.method !== 'GET' && request.method !== 'HEAD')) {
        response.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
        return;
      }
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': index.length, 'cache-control': 'no-cache' });
      response.end(request.method === 'HEAD' ? undefined : index);
    });
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => resolve());
  });
  return {
    url: `http://${host}:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
