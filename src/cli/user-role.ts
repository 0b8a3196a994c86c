/**
 * `npm run user:role -- <email> user|support|ops`: grants or revokes a staff role from the operator's command line,
 * audited with the actor `cli` (no account: whoever can run this can reach the database). The last ops account is
 * kept, as through the API.
 */
import { z } from 'zod';
import { AppDatabase } from '../../db/database';
import { CLI_ACTOR } from '../audit/staff-audit';
import { setUserRole } from '../auth/staff-roles';
import { loadConfig } from '../config';
import { DomainError } from '../errors';
import { runCli, UsageError } from './run';

const args = z.tuple([z.email().transform((value) => value.trim().toLowerCase()), z.enum(['user', 'support', 'ops'])]);

runCli(async () => {
  const parsed = args.safeParse(process.argv.slice(2));
  if (!parsed.success) throw new UsageError('usage: npm run user:role -- <email> user|support|ops');
  const [email, role] = parsed.data;
  const config = loadConfig();
  const database = new AppDatabase({ connectionString: config.database.url, applicationName: 'crowdfund-user-role' });
  try {
    const change = await setUserRole(database, { email }, role, { actor: CLI_ACTOR, requestId: null });
    console.log(change.changed ? `${change.email} (${change.userId}): ${change.from} -> ${change.to}` : `${change.email} (${change.userId}) already has role ${change.to}`);
  } catch (error) {
    if (error instanceof DomainError) throw new UsageError(error.message);
    throw error;
  } finally {
    await database.close();
  }
});
