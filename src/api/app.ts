/**
 * The Express application: JSON in and out, authentication, the routers, and one error handler.
 * Building the app has no side effects; src/api/main.ts listens and shuts down.
 */
import express from 'express';
import { type ApiContext, authenticate } from './context';
import { notFound } from '../errors';
import { errorHandler } from './errors';
import { applyHttpEdge } from './http-edge';
import { assignRequestId } from './request-id';
import { openApiDocument } from './openapi';
import { authRoutes } from './routes/auth';
import { campaignLifecycleRoutes } from './routes/campaign-lifecycle';
import { campaignUpdateRoutes } from './routes/campaign-updates';
import { campaignRoutes } from './routes/campaigns';
import { disputeRoutes } from './routes/disputes';
import { meRoutes } from './routes/me';
import { opsRoutes } from './routes/ops';
import { campaignPledgeRoutes, pledgeRoutes } from './routes/pledges';
import { progressRoutes } from './routes/progress';
import { stripeWebhookRoutes } from './routes/stripe-webhooks';
import { supportRoutes } from './routes/support';
import { updateSubscriptionRoutes } from './routes/update-subscriptions';
import { backerReportRoutes } from './routes/backer-report';
import { campaignSurveyRoutes, pledgeSurveyRoutes } from './routes/surveys';

export function createApp(context: ApiContext): express.Express {
  const app = express();
  // First, so that every answer carries it, CORS preflights and refusals included.
  app.use(assignRequestId());
  applyHttpEdge(app, context.config);

  const openApi = openApiDocument();
  app.get('/api/openapi.json', (_req, res) => {
    res.json(openApi);
  });
  app.get('/health/live', (_req, res) => {
    res.json({ ok: true });
  });
  app.get('/health/ready', async (_req, res) => {
    const database = await context.database.ping();
    res.status(database ? 200 : 503).json({ ok: database, database });
  });

  // Before the JSON parser: the signature is computed over the raw body.
  app.use('/api/webhooks/stripe', stripeWebhookRoutes(context));
  app.use('/api', express.json({ limit: '100kb' }), authenticate(context));
  app.use('/api/auth', authRoutes(context));
  app.use('/api/campaigns', progressRoutes(context), campaignRoutes(context), campaignLifecycleRoutes(context), campaignPledgeRoutes(context));
  app.use('/api/campaigns', campaignUpdateRoutes(context));
  // /api/unsubscribe (anonymous, by signed token) and /api/me/subscriptions/:campaignId.
  app.use('/api', updateSubscriptionRoutes(context));
  app.use('/api/me', meRoutes(context));
  app.use('/api/pledges', pledgeRoutes(context));
  app.use('/api/campaigns', campaignSurveyRoutes(context), backerReportRoutes(context));
  app.use('/api/pledges', pledgeSurveyRoutes(context));
  app.use('/api/support/disputes', disputeRoutes(context));
  app.use('/api/support', supportRoutes(context));
  app.use('/api/ops', opsRoutes(context));

  app.use((req, _res, next) => next(notFound(`${req.method} ${req.path}`)));
  app.use(errorHandler(context.logger));
  return app;
}
