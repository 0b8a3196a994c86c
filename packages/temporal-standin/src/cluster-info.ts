/**
 * GetClusterInfo: what Temporal UI shows about the server and gates features on. `serverVersion` is compared as
 * major.minor.patch numbers by the UI (features from 1.23: child workflow relationships, prefix search; 1.24: reset
 * with reapply-exclude types; 1.27.1: reset with pending child workflows); the stand-in implements those, so it
 * reports a minor above them, with a suffix that names it.
 */
import { randomUUID } from 'node:crypto';
import { type Msg } from './proto';

export const SERVER_VERSION = '1.28.0-standin';

/** The client version ranges the server accepts (the server's headers.SupportedClients). */
const SUPPORTED_CLIENTS: Record<string, string> = {
  'temporal-go': '<2.0.0',
  'temporal-java': '<2.0.0',
  'temporal-php': '<2.0.0',
  'temporal-typescript': '<2.0.0',
  'temporal-cli': '<2.0.0',
  'temporal-server': '<2.0.0',
  'temporal-ui': '<3.0.0',
  'Nexus-go-sdk': '<2.0.0',
};

/** One cluster id per stand-in process, as a server keeps its own. */
const CLUSTER_ID = randomUUID();

export function clusterInfo(): Msg {
  return {
    supportedClients: SUPPORTED_CLIENTS,
    serverVersion: SERVER_VERSION,
    clusterId: CLUSTER_ID,
    clusterName: 'active',
    historyShardCount: 1,
    // Everything lives in the process's memory (the dev server's in-memory SQLite is the closest real setup).
    persistenceStore: 'memory',
    visibilityStore: 'memory',
    failoverVersionIncrement: 10,
    initialFailoverVersion: 1,
  };
}
