import type Stripe from 'stripe';
import { type AppDatabase } from '../db/database';
import { type Config } from '../src/config';
import { type Mailer } from '../src/notifications/mailer';

/** What activities need from the outside world, injected by the worker (and by tests). */
export interface ActivityDeps {
  database: AppDatabase;
  stripe: Stripe;
  config: Config;
  mailer: Mailer;
}
