/**
 * `GET /api/campaigns/:id/backers.csv`: the backer report (src/reports/backer-report.ts) for the campaign's creator
 * and staff, streamed as it is read: the response is written batch by batch, and the next batch is fetched only once
 * the client has taken the last. Each export holds a database connection while it runs, so a process runs only a
 * few at once (beyond: 503 with Retry-After). Once the first bytes are out an error can no longer become a JSON
 * answer: the connection is cut, and the client sees a truncated download.
 */
import { type Response, Router } from 'express';
import { z } from 'zod';
import { recordStaffAction, staffActor } from '../../audit/staff-audit';
import { campaignForCreatorWork } from '../../campaigns/creator-access';
import { DomainError } from '../../errors';
import { writeBackerReport } from '../../reports/backer-report';
import { type ApiContext, requireUser } from '../context';
import { requestIdOf } from '../request-id';

export const backerReportParams = z.object({ id: z.uuid() });
const MAX_CONCURRENT_EXPORTS = 3;
const EXPORT_RETRY_AFTER_SECONDS = 10;

/** Writes `chunk`, resolving once the response has room for more; rejects if the client has gone. */
function writer(res: Response): (chunk: string) => Promise<void> {
  return (chunk) =>
    new Promise<void>((resolve, reject) => {
      if (res.destroyed || res.writableEnded) return reject(new Error('the client closed the connection'));
      if (res.write(chunk)) return resolve();
      const done = (error?: Error) => {
        res.off('drain', onDrain);
        res.off('close', onClose);
        if (error) reject(error);
        else resolve();
      };
      const onDrain = () => done();
      const onClose = () => done(new Error('the client closed the connection'));
      res.on('drain', onDrain);
      res.on('close', onClose);
    });
}

export function backerReportRoutes(context: ApiContext): Router {
  const router = Router();
  let running = 0;

  router.get('/:id/backers.csv', async (req, res) => {
    const user = requireUser(res);
    const { id } = backerReportParams.parse(req.params);
    const campaign = await campaignForCreatorWork(context.database.db, id, user, 'read', 'backer report');
    if (running >= MAX_CONCURRENT_EXPORTS) {
      throw new DomainError('unavailable', 'exports_busy', 'Other backer reports are being exported on this server; try again shortly', { retryAfterSeconds: EXPORT_RETRY_AFTER_SECONDS });
    }
    running += 1;
    try {
      // Staff reading backers' personal data is on the record before the first row leaves.
      if (campaign.creator_id !== user.id) {
        await recordStaffAction(context.database.db, { actor: staffActor(user), requestId: requestIdOf(res) }, { action: 'backer_report.exported', objectType: 'campaign', objectId: campaign.id });
      }
      const day = new Date().toISOString().slice(0, 10);
      res.status(200);
      res.setHeader('Content-Type', 'text/csv; charset=utf-8; header=present');
      // Slugs are lowercase letters, digits and dashes: safe in a quoted filename as they are.
      res.setHeader('Content-Disposition', `attachment; filename="backers-${campaign.slug}-${day}.csv"`);
      res.setHeader('Cache-Control', 'no-store');
      await writeBackerReport(context.database, campaign, writer(res));
      res.end();
    } catch (error) {
      // Before the first byte the error handler still answers in JSON (not as a download); after it, it cuts the connection.
      if (res.headersSent) context.logger.warn({ err: error, campaignId: campaign.id }, 'backer report cut short');
      else for (const header of ['Content-Type', 'Content-Disposition', 'Cache-Control']) res.removeHeader(header);
      throw error;
    } finally {
      running -= 1;
    }
  });

  return router;
}
