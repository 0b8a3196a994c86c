/**
 * What every answer gets before any route: security headers (helmet's defaults: HSTS, nosniff, frame and
 * content-security policies), CORS for the web frontend's origins only (CORS_ORIGINS; none by default: same-origin
 * only), and which reverse proxies are believed about the client's address (TRUST_PROXY), which the sign-in and
 * pledge limits key on.
 */
import cors from 'cors';
import { type Express } from 'express';
import helmet from 'helmet';
import { type Config } from '../config';

export function applyHttpEdge(app: Express, config: Config): void {
  app.disable('x-powered-by');
  app.set('trust proxy', config.http.trustProxy);
  app.use(helmet());
  app.use(
    cors({
      origin: config.http.corsOrigins,
      allowedHeaders: ['Authorization', 'Content-Type', 'Idempotency-Key', 'X-Request-Id'],
      exposedHeaders: ['Retry-After', 'Idempotent-Replayed', 'X-Request-Id'],
      maxAge: 600,
    }),
  );
}
