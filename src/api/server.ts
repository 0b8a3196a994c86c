/**
 * Runs the API on a port and stops it gracefully: stop accepting, let in-flight requests finish (idle keep-alive
 * connections close at once), then the caller closes its pools.
 */
import { once } from 'node:events';
import { type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { createApp } from './app';
import { type ApiContext } from './context';

export interface RunningApi {
  url: string;
  server: Server;
  close(): Promise<void>;
}

export async function startApiServer(context: ApiContext, host: string, port: number): Promise<RunningApi> {
  const app = createApp(context);
  const server = app.listen(port, host);
  await once(server, 'listening');
  const address = server.address() as AddressInfo;
  return {
    url: `http://${host}:${address.port}`,
    server,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // Long-lived responses (SSE streams) would hold the server open: end them after a short grace.
      const force = setTimeout(() => server.closeAllConnections(), 5_000);
      await closed;
      clearTimeout(force);
      // Before the caller closes the pools: running reconciliations stop and say so on their rows.
      await context.reconciliationJobs?.stop();
      await context.updateSends?.drain();
    },
  };
}
