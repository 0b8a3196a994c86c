import { join } from 'node:path';

export { startStripeStandin, type Fault, type LoggedRequest, type RunningStripeStandin, type StripeStandinOptions } from './server';
export { STANDIN_SECRET_KEY, standinControls, type StandinControls } from './controls';

// From the sources (jest) or from dist/: a process needs the compiled executable, always <package>/dist/src/bin.js.
const PACKAGE_ROOT = join(__dirname, '..').replace(/[\\/]dist$/, '');
export const STRIPE_STANDIN_BIN = join(PACKAGE_ROOT, 'dist', 'src', 'bin.js');
