import { type Migration, type MigrationProvider } from 'kysely';
import * as m0001 from './0001_initial';
import * as m0002 from './0002_progress_notify';
import * as m0003 from './0003_pledge_placement';
import * as m0004 from './0004_pledge_revision';
import * as m0005 from './0005_refund_steps';
import * as m0006 from './0006_notification_backoff';
import * as m0007 from './0007_payout_attempts';
import * as m0008 from './0008_pledge_cancellation';
import * as m0009 from './0009_settlement_currency';
import * as m0010 from './0010_refund_failures';
import * as m0011 from './0011_disputes';
import * as m0012 from './0012_payout_reserve';
import * as m0013 from './0013_staff_audit';
import * as m0014 from './0014_velocity';
import * as m0015 from './0015_reconciliation_jobs';
import * as m0016 from './0016_retention';
import * as m0017 from './0017_email_verification_totp';
import * as m0018 from './0018_campaign_updates';
import * as m0019 from './0019_surveys';

/** Every migration, in order. Exported from code rather than read from disk, so build output and tests agree. */
const migrations: Record<string, Migration> = {
  '0001_initial': m0001,
  '0002_progress_notify': m0002,
  '0003_pledge_placement': m0003,
  '0004_pledge_revision': m0004,
  '0005_refund_steps': m0005,
  '0006_notification_backoff': m0006,
  '0007_payout_attempts': m0007,
  '0008_pledge_cancellation': m0008,
  '0009_settlement_currency': m0009,
  '0010_refund_failures': m0010,
  '0011_disputes': m0011,
  '0012_payout_reserve': m0012,
  '0013_staff_audit': m0013,
  '0014_velocity': m0014,
  '0015_reconciliation_jobs': m0015,
  '0016_retention': m0016,
  '0017_email_verification_totp': m0017,
  '0018_campaign_updates': m0018,
  '0019_surveys': m0019,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};
