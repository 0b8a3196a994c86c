/**
 * `npm run user:create -- --email staff@example.com --role support|ops [--name "..."] [--password "..."] [--reset-totp]`:
 * creates a staff account (or changes an existing account's role). Prints a generated password when none is given,
 * and for a staff member without a second factor, how to enrol one (staff endpoints need it). `--reset-totp` removes
 * the account's second factor (audited, actor `cli`): the way back in when the last ops has lost their device.
 * A role given or changed is audited with the actor `cli`, in the same transaction (`npm run user:role` changes a
 * role alone).
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { AppDatabase } from '../../db/database';
import { CLI_ACTOR, recordStaffAction } from '../audit/staff-audit';
import { saveStaffUser } from '../auth/staff';
import { hasTotpFactor, resetTotpFactor } from '../auth/totp';
import { loadConfig } from '../config';
import { runCli, UsageError } from './run';

const options = z.object({
  email: z.email().transform((value) => value.trim().toLowerCase()),
  role: z.enum(['user', 'support', 'ops']),
  name: z.string().trim().min(1).optional(),
  password: z.string().min(10, 'must be at least 10 characters').optional(),
  'reset-totp': z.boolean().default(false),
});

/** Staff routes answer 403 second_factor_required until the staff member has enrolled an authenticator app. */
const TOTP_ENROLMENT_STEPS = [
  'second factor: not enrolled yet. Staff endpoints stay closed until the staff member enrols an authenticator app:',
  '  1. POST /api/auth/login {email, password}                  -> a token (staff endpoints still closed)',
  '  2. POST /api/me/totp with that token                       -> the secret and its otpauth:// URI (scan it; shown once)',
  '  3. POST /api/me/totp/confirm {code} with the app\'s code    -> this session is open; later sign-ins send {totp}',
  'Any session opened before this command was ended. Ops can reset a lost device: DELETE /api/ops/users/<id>/totp.',
].join('\n');

runCli(async () => {
  const { values } = parseArgs({
    options: { email: { type: 'string' }, role: { type: 'string' }, name: { type: 'string' }, password: { type: 'string' }, 'reset-totp': { type: 'boolean' } },
    strict: true,
  });
  const parsed = options.safeParse(values);
  if (!parsed.success) {
    throw new UsageError(
      `usage: npm run user:create -- --email <email> --role support|ops [--name <name>] [--password <password>] [--reset-totp]\n` +
        parsed.error.issues.map((issue) => `  --${issue.path.join('.')}: ${issue.message}`).join('\n'),
    );
  }
  const { email, role, name } = parsed.data;
  const generated = parsed.data.password ? undefined : randomBytes(12).toString('base64url');
  const config = loadConfig();
  const database = new AppDatabase({ connectionString: config.database.url, applicationName: 'crowdfund-user-create' });
  try {
    const user = await database.transaction(async (trx) => {
      const before = await trx.selectFrom('users').select('role').where((eb) => eb(eb.fn('lower', ['email']), '=', email)).forUpdate().executeTakeFirst();
      const saved = await saveStaffUser(trx, { email, role, ...(name ? { name } : {}), password: parsed.data.password ?? generated! });
      if (before?.role !== saved.role && (before !== undefined || saved.role !== 'user')) {
        await recordStaffAction(trx, { actor: CLI_ACTOR, requestId: null }, {
          action: saved.role === 'user' ? 'role.revoked' : 'role.granted',
          objectType: 'user',
          objectId: saved.id,
          details: { email: saved.email, from: before?.role ?? null, to: saved.role, created: before === undefined },
        });
      }
      return saved;
    });
    console.log(`${user.email} (${user.id}) now has role ${user.role}`);
    if (generated) console.log(`password: ${generated}`);
    if (parsed.data['reset-totp'] && (await resetTotpFactor(database, user.id, { actor: CLI_ACTOR, requestId: null }))) console.log('second factor: removed');
    if (user.role !== 'user' && !(await hasTotpFactor(database.db, user.id))) console.log(TOTP_ENROLMENT_STEPS);
  } finally {
    await database.close();
  }
});
