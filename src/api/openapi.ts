/**
 * The API described as OpenAPI 3.1, generated from the zod schemas the routes validate with (zod 4's own
 * `z.toJSONSchema`: OpenAPI 3.1 speaks JSON Schema 2020-12, so no converter library is needed). Each route is
 * declared here once with the schema objects its handler parses.
 */
import { z } from 'zod';
import { campaignIdOrSlugParams, campaignIdParam, campaignListQuery, createCampaignBody, rewardBody, stretchGoalBody, updateCampaignBody } from '../campaigns/schemas';
import { campaignIdParams, cancelCampaignBody } from './routes/campaign-lifecycle';
import { loginBody, signupBody, verifyEmailBody } from './routes/auth';
import { totpConfirmBody } from './routes/me';
import { changePledgeBody, paymentMethodBody, placePledgeBody, pledgeIdParams } from './routes/pledges';
import { refundBody } from './routes/support';
import { campaignUpdateParams, campaignUpdatesParams, postUpdateBody, subscriptionParams, unsubscribeBody, updateListQuery } from '../updates/schemas';
import { disputeIdParams, disputeListQuery, evidenceBody } from './routes/disputes';
import { auditQuery, commissionBody, roleBody, userIdParams } from './routes/ops';
import { backerReportParams } from './routes/backer-report';
import { changeSurveyBody, createSurveyBody, surveyCampaignParams, surveyParams, surveyPledgeParams } from './routes/surveys';
import { answersBodyDocument } from '../surveys/questions';

type Access = 'anyone' | 'signed in' | 'support' | 'ops';

export interface RouteDoc {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  path: string;
  summary: string;
  access: Access;
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  success: number;
}

export const ROUTES: RouteDoc[] = [
  { method: 'post', path: '/api/auth/signup', summary: 'Create an account: the same answer whether or not the address has one; a link to confirm it is mailed', access: 'anyone', body: signupBody, success: 202 },
  { method: 'post', path: '/api/auth/login', summary: 'Sign in (accounts with a second factor also send totp)', access: 'anyone', body: loginBody, success: 200 },
  { method: 'post', path: '/api/auth/verify-email', summary: 'Confirm my email address with the token of the mailed link (single use; needed to pledge and publish)', access: 'signed in', body: verifyEmailBody, success: 200 },
  { method: 'post', path: '/api/me/verification-email', summary: 'Mail me a new link to confirm my email address (a few an hour)', access: 'signed in', success: 202 },
  { method: 'post', path: '/api/me/totp', summary: 'Start enrolling a TOTP second factor: its secret and otpauth:// URI, shown once (staff)', access: 'signed in', success: 201 },
  { method: 'post', path: '/api/me/totp/confirm', summary: 'Confirm the second factor with the app\'s first code; this session passes it (staff)', access: 'signed in', body: totpConfirmBody, success: 200 },
  { method: 'post', path: '/api/auth/logout', summary: 'Revoke this token', access: 'signed in', success: 204 },
  { method: 'post', path: '/api/me/connect', summary: 'Create the payout account and an onboarding link', access: 'signed in', success: 201 },
  { method: 'get', path: '/api/me/connect', summary: 'Payout account status', access: 'signed in', success: 200 },
  { method: 'post', path: '/api/campaigns', summary: 'Create a draft campaign', access: 'signed in', body: createCampaignBody, success: 201 },
  { method: 'get', path: '/api/campaigns', summary: 'List campaigns (keyset pages)', access: 'anyone', query: campaignListQuery, success: 200 },
  { method: 'get', path: '/api/campaigns/{idOrSlug}', summary: 'A campaign with its totals, rewards and stretch goals', access: 'anyone', params: campaignIdOrSlugParams, success: 200 },
  { method: 'patch', path: '/api/campaigns/{id}', summary: 'Change a draft', access: 'signed in', params: campaignIdParam, body: updateCampaignBody, success: 200 },
  { method: 'post', path: '/api/campaigns/{id}/rewards', summary: 'Add a reward to a draft', access: 'signed in', params: campaignIdParam, body: rewardBody, success: 201 },
  { method: 'post', path: '/api/campaigns/{id}/stretch-goals', summary: 'Add a stretch goal to a hybrid draft', access: 'signed in', params: campaignIdParam, body: stretchGoalBody, success: 201 },
  { method: 'get', path: '/api/campaigns/{id}/stats', summary: 'Raised per day, pledges per reward (creator, ops)', access: 'signed in', params: campaignIdParam, success: 200 },
  { method: 'post', path: '/api/campaigns/{id}/publish', summary: 'Publish: starts the campaign workflow', access: 'signed in', params: campaignIdParams, success: 202 },
  { method: 'post', path: '/api/campaigns/{id}/cancel', summary: 'Cancel before the deadline (creator, ops)', access: 'signed in', params: campaignIdParams, body: cancelCampaignBody, success: 202 },
  { method: 'post', path: '/api/campaigns/{id}/pledges', summary: 'Pledge by card (Idempotency-Key header required)', access: 'signed in', params: campaignIdParam, body: placePledgeBody, success: 201 },
  { method: 'post', path: '/api/campaigns/{id}/updates', summary: 'Post an update (markdown; public or backers only) and mail it to the backers (creator of a published campaign; Idempotency-Key header required)', access: 'signed in', params: campaignUpdatesParams, body: postUpdateBody, success: 202 },
  { method: 'get', path: '/api/campaigns/{id}/updates', summary: 'The campaign\'s updates, newest first (keyset pages); a backers-only body is null for who is not a backer, the creator or staff', access: 'anyone', params: campaignUpdatesParams, query: updateListQuery, success: 200 },
  { method: 'get', path: '/api/campaigns/{id}/updates/{updateId}', summary: 'One update (same visibility; the creator and staff also see its delivery progress)', access: 'anyone', params: campaignUpdateParams, success: 200 },
  { method: 'post', path: '/api/unsubscribe', summary: 'Stop a campaign\'s update mails with the signed token of a mail\'s link (idempotent)', access: 'anyone', body: unsubscribeBody, success: 200 },
  { method: 'delete', path: '/api/me/subscriptions/{campaignId}', summary: 'Stop mails about this campaign\'s updates', access: 'signed in', params: subscriptionParams, success: 200 },
  { method: 'put', path: '/api/me/subscriptions/{campaignId}', summary: 'Receive this campaign\'s update mails again', access: 'signed in', params: subscriptionParams, success: 200 },
  { method: 'patch', path: '/api/pledges/{id}', summary: 'Change a pledge before the deadline (a hold is re-authorized)', access: 'signed in', params: pledgeIdParams, body: changePledgeBody, success: 200 },
  { method: 'delete', path: '/api/pledges/{id}', summary: 'Cancel a pledge before the deadline (keep-it-all: refunded in full)', access: 'signed in', params: pledgeIdParams, success: 200 },
  { method: 'get', path: '/api/me/pledges', summary: 'My pledges', access: 'signed in', success: 200 },
  { method: 'post', path: '/api/pledges/{id}/payment-method', summary: 'Save a new card for a failed pledge and retry it', access: 'signed in', params: pledgeIdParams, body: paymentMethodBody, success: 202 },
  { method: 'post', path: '/api/support/pledges/{id}/refunds', summary: 'Refund a pledge, fully or partly (Idempotency-Key header required)', access: 'support', params: pledgeIdParams, body: refundBody, success: 202 },
  { method: 'get', path: '/api/support/disputes', summary: 'Chargebacks, the most urgent first (filter by status; default: open)', access: 'support', query: disputeListQuery, success: 200 },
  { method: 'post', path: '/api/support/disputes/{id}/evidence', summary: 'Send evidence to Stripe, submitted unless submit is false (Idempotency-Key header required)', access: 'support', params: disputeIdParams, body: evidenceBody, success: 200 },
  { method: 'post', path: '/api/support/disputes/{id}/accept', summary: 'Accept the dispute as lost (Idempotency-Key header required)', access: 'support', params: disputeIdParams, success: 200 },
  { method: 'get', path: '/api/ops/campaigns/{id}', summary: 'The campaign workflow state', access: 'ops', params: campaignIdParams, success: 200 },
  { method: 'post', path: '/api/ops/campaigns/{id}/reconciliation', summary: 'Start reconciling in the background (or find the run in progress)', access: 'ops', params: campaignIdParams, success: 202 },
  { method: 'get', path: '/api/ops/campaigns/{id}/reconciliation', summary: 'The latest reconciliation: its progress, or where every cent went (ledger, pledge rows and Stripe agree)', access: 'ops', params: campaignIdParams, success: 200 },
  { method: 'post', path: '/api/ops/campaigns/{id}/retry-settlement', summary: 'Retry errored settlements now', access: 'ops', params: campaignIdParams, success: 202 },
  { method: 'put', path: '/api/ops/campaigns/{id}/commission', summary: 'Override the campaign\'s commission (500-800 bps) until settlement starts', access: 'ops', params: campaignIdParams, body: commissionBody, success: 200 },
  { method: 'put', path: '/api/ops/users/{id}/role', summary: 'Grant or revoke a staff role (never the last ops)', access: 'ops', params: userIdParams, body: roleBody, success: 200 },
  { method: 'get', path: '/api/ops/audit', summary: 'The staff audit log, newest first (filters; keyset pages)', access: 'ops', query: auditQuery, success: 200 },
  { method: 'delete', path: '/api/ops/users/{id}/totp', summary: 'Remove a staff member\'s second factor (lost device) and end their sessions', access: 'ops', params: userIdParams, success: 200 },
  { method: 'post', path: '/api/campaigns/{id}/surveys', summary: 'Define a survey for a reward\'s backers (rewardId null: backers without a reward) once the campaign is funded (creator)', access: 'signed in', params: surveyCampaignParams, body: createSurveyBody, success: 201 },
  { method: 'get', path: '/api/campaigns/{id}/surveys', summary: 'The campaign\'s surveys with response counts (creator, staff)', access: 'signed in', params: surveyCampaignParams, success: 200 },
  { method: 'get', path: '/api/campaigns/{id}/surveys/{surveyId}', summary: 'A survey with its response counts; answers only through the backer report (creator, staff)', access: 'signed in', params: surveyParams, success: 200 },
  { method: 'patch', path: '/api/campaigns/{id}/surveys/{surveyId}', summary: 'Change a draft survey\'s questions (creator)', access: 'signed in', params: surveyParams, body: changeSurveyBody, success: 200 },
  { method: 'post', path: '/api/campaigns/{id}/surveys/{surveyId}/send', summary: 'Send a survey once settlement is over: mails every settled backer of its reward, then reminders every 2 days (creator; again: no re-mail)', access: 'signed in', params: surveyParams, success: 202 },
  { method: 'post', path: '/api/campaigns/{id}/surveys/{surveyId}/lock', summary: 'Lock a sent survey: answers frozen, reminders end (creator)', access: 'signed in', params: surveyParams, success: 200 },
  { method: 'get', path: '/api/pledges/{pledgeId}/survey', summary: 'The survey of my pledge\'s reward, with my answers (the backer)', access: 'signed in', params: surveyPledgeParams, success: 200 },
  { method: 'put', path: '/api/pledges/{pledgeId}/survey', summary: 'Answer (201) or change my answers (200) until the survey is locked (the backer of a settled pledge)', access: 'signed in', params: surveyPledgeParams, body: answersBodyDocument, success: 200 },
  { method: 'get', path: '/api/campaigns/{id}/backers.csv', summary: 'The backer report as CSV, streamed: a row per pledge with its survey answers (creator, staff)', access: 'signed in', params: backerReportParams, success: 200 },
  { method: 'post', path: '/api/webhooks/stripe', summary: 'Stripe events (signed)', access: 'anyone', success: 200 },
];

const errorSchema = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string' },
        message: { type: 'string' },
        fields: { type: 'array', items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } } } },
      },
    },
  },
};

function parameters(schema: z.ZodObject | undefined, where: 'path' | 'query') {
  if (!schema) return [];
  const json = z.toJSONSchema(schema, { io: 'input' }) as { properties?: Record<string, unknown>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, property]) => ({
    name,
    in: where,
    required: where === 'path' || (json.required ?? []).includes(name),
    schema: property,
  }));
}

export function openApiDocument() {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of ROUTES) {
    paths[route.path] ??= {};
    paths[route.path]![route.method] = {
      summary: route.summary,
      description: `Access: ${route.access}.`,
      ...(route.access === 'anyone' ? {} : { security: [{ bearer: [] }] }),
      parameters: [...parameters(route.params, 'path'), ...parameters(route.query, 'query')],
      ...(route.body ? { requestBody: { required: true, content: { 'application/json': { schema: z.toJSONSchema(route.body, { io: 'input' }) } } } } : {}),
      responses: {
        [route.success]: { description: 'Success' },
        '4XX': { description: 'A client error, naming the field when there is one', content: { 'application/json': { schema: errorSchema } } },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Crowdfund API', version: '0.1.0', description: 'Money is a decimal string plus an ISO 4217 currency.' },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    paths,
  };
}
