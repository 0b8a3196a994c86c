/**
 * What ops do in Temporal UI, driven in headless Chromium (Debian's `chromium`, through playwright-core) against the
 * UI that `npm start` serves, once `npm run demo` has settled and paid out a campaign: find it by `CampaignStatus`,
 * read its history, query `campaignState`, see its children, send `retrySettlement`, and reset it. Every answer is
 * checked against Temporal's HTTP API on the same origin. `TEMPORAL_UI_SCREENSHOTS=<dir>` saves a screenshot of
 * each step there (the README's come from docs/images).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SCREENSHOTS = process.env.TEMPORAL_UI_SCREENSHOTS;

interface Json {
  [key: string]: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- JSON answers of the HTTP API
}

/** Registers the UI's tests; `platformOutput` is what `npm start` printed (it names the UI's address). */
export function describeTemporalUi(platformOutput: () => string): void {
  let ui: string;
  let browser: BrowserContext;
  let page: Page;
  let profile: string;
  let campaign: { workflowId: string; runId: string };
  const serverErrors: string[] = [];

  const api = async (path: string, body?: unknown): Promise<Json> => {
    const response = await fetch(`${ui}/api/v1/namespaces/default/${path}`, body === undefined ? {} : { method: 'POST', body: JSON.stringify(body) });
    const json = (await response.json()) as Json;
    if (!response.ok) throw new Error(`${path}: ${response.status} ${JSON.stringify(json)}`);
    return json;
  };
  const decode = (payload: Json): unknown => JSON.parse(Buffer.from(payload.data as string, 'base64').toString());
  const campaignState = async (runId: string) =>
    decode((await api(`workflows/${campaign.workflowId}/query/campaignState`, { execution: { runId }, query: {} })).queryResult.payloads[0]) as Json;
  const events = async (runId: string): Promise<Json[]> => (await api(`workflows/${campaign.workflowId}/history?execution.runId=${runId}`)).history.events as Json[];
  const screenshot = async (name: string) => {
    if (SCREENSHOTS) await page.screenshot({ path: join(SCREENSHOTS, `temporal-ui-${name}.png`) });
  };
  const runPage = (tab: string) => `${ui}/namespaces/default/workflows/${encodeURIComponent(campaign.workflowId)}/${campaign.runId}/${tab}`;

  describe('Temporal UI on npm start', () => {
    beforeAll(async () => {
      ui = /Temporal UI +(http:\/\/\S+)/.exec(platformOutput())![1]!;
      const paidOut = (await api(`workflows?query=${encodeURIComponent('CampaignStatus = "paid_out"')}`)).executions as Json[];
      expect(paidOut.map((execution) => decode(execution.memo.fields.title))).toEqual(['Solar kettle']);
      campaign = paidOut[0]!.execution as { workflowId: string; runId: string };
      profile = mkdtempSync(join(tmpdir(), 'crowdfund-chromium-'));
      browser = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        viewport: { width: 1400, height: 1000 },
        args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      });
      page = browser.pages()[0] ?? (await browser.newPage());
      page.on('response', (response) => {
        if (response.status() >= 500) serverErrors.push(`${response.status()} ${response.url()}`);
      });
    }, 60_000);

    afterAll(async () => {
      await browser?.close();
      if (profile) rmSync(profile, { recursive: true, force: true });
    });

    // A server error the UI met in a step fails that step.
    afterEach(() => expect(serverErrors.splice(0)).toEqual([]));

    test('the workflow list filtered by CampaignStatus = "paid_out" shows the settled campaign and its count', async () => {
      await page.goto(`${ui}/namespaces/default/workflows?query=${encodeURIComponent('CampaignStatus="paid_out"')}`);
      await page.getByRole('link', { name: campaign.workflowId }).waitFor();
      await expect(page.getByTestId('workflow-count').innerText()).resolves.toBe('1');
      await expect(page.locator('h1').innerText()).resolves.toMatch(/^1\s+Workflow$/);
      await expect(page.getByText('1 Running').first().isVisible()).resolves.toBe(true);
      await screenshot('list');
    });

    test("the campaign's page shows its history and current details", async () => {
      await page.getByRole('link', { name: campaign.workflowId }).click();
      await page.waitForURL(/\/history$/);
      const history = await events(campaign.runId);
      await page.getByText('Workflow Task Completed').first().waitFor();
      await expect(page.getByTestId('history-tab').innerText()).resolves.toContain(String(history.length));
      // The details the workflow sets, rendered from markdown in a frame.
      const details = page.frameLocator('iframe[title="output"]');
      await page.getByText('Current Details').click();
      await expect(details.locator('strong').innerText()).resolves.toBe('paid_out');
      await screenshot('history');
    });

    test('the Queries tab answers campaignState', async () => {
      await page.goto(runPage('query'));
      await page.getByTestId('query-select-button').click();
      await page.getByRole('option', { name: 'campaignState' }).click();
      await page.getByRole('button', { name: /run query/i }).click();
      const result = page.getByTestId('query-result');
      await result.getByText('"phase"').waitFor();
      const shown = await result.innerText();
      expect(shown).toContain('"outcome": "funded"');
      expect(shown).toContain('"state": "paid"');
      expect(shown).toContain(`"pledged": ${(await campaignState(campaign.runId)).totals.pledged}`);
      await screenshot('query');
    });

    test('the Relationships tab shows the pledge settlement children', async () => {
      const children = (await api(`workflows?query=${encodeURIComponent(`ParentWorkflowId = "${campaign.workflowId}"`)}`)).executions as Json[];
      expect(children.length).toBeGreaterThan(0);
      await page.goto(runPage('relationships'));
      for (const child of children) await page.getByRole('link', { name: child.execution.workflowId as string }).first().waitFor();
      await expect(page.getByText('settlePledgeBatchWorkflow').first().isVisible()).resolves.toBe(true);
      await screenshot('relationships');
    });

    test('a retrySettlement signal sent from the UI reaches the workflow', async () => {
      await page.goto(runPage('history'));
      await page.locator('#workflow-actions-menu-button').locator('visible=true').click();
      await page.getByTestId('signal-button').locator('visible=true').click();
      const modal = page.getByTestId('signal-confirmation-modal').locator('visible=true');
      await modal.getByTestId('signal-select-button').click();
      await page.getByRole('option', { name: 'retrySettlement' }).click();
      await modal.getByTestId('confirm-modal-button').click();
      await page.getByText('Workflow signaled.').waitFor();
      const signals = (await events(campaign.runId)).filter((event) => event.workflowExecutionSignaledEventAttributes?.signalName === 'retrySettlement');
      expect(signals).toHaveLength(1);
    });

    test('a reset from the UI replays the campaign into a new run with the same state, the signal reapplied', async () => {
      const before = await campaignState(campaign.runId);
      const history = await events(campaign.runId);
      const signalId = Number(history.find((event) => event.workflowExecutionSignaledEventAttributes?.signalName === 'retrySettlement')!.eventId);
      // The last workflow task before the signal: the new run replays up to there, then gets the signal again.
      const resetPoint = history.filter((event) => event.eventType === 'EVENT_TYPE_WORKFLOW_TASK_COMPLETED' && Number(event.eventId) < signalId).at(-1)!.eventId as string;

      await page.goto(runPage('history'));
      await page.locator('#workflow-actions-menu-button').locator('visible=true').click();
      await page.getByTestId('reset-button').locator('visible=true').click();
      const modal = page.getByTestId('reset-confirmation-modal').locator('visible=true');
      await modal.getByTestId('workflow-reset-event-id-select-button').click();
      await page.locator('#reset-event-id-select [role="option"]').locator('visible=true').filter({ hasText: `${resetPoint} - WorkflowTaskCompleted` }).click();
      await modal.locator('#reset-reason').fill('replayed by the browser test');
      await modal.getByTestId('confirm-modal-button').click();
      await page.getByText('This Workflow has been reset').waitFor();
      await screenshot('reset');

      const current = (await api(`workflows/${campaign.workflowId}`)).workflowExecutionInfo as Json;
      expect(current.execution.runId).not.toBe(campaign.runId);
      expect(current.status).toBe('WORKFLOW_EXECUTION_STATUS_RUNNING');
      const old = (await api(`workflows/${campaign.workflowId}?execution.runId=${campaign.runId}`)).workflowExecutionInfo as Json;
      expect(old.status).toBe('WORKFLOW_EXECUTION_STATUS_TERMINATED');
      const reapplied = (await events(current.execution.runId as string)).filter((event) => event.workflowExecutionSignaledEventAttributes?.signalName === 'retrySettlement');
      expect(reapplied).toHaveLength(1);
      const after = await campaignState(current.execution.runId as string);
      for (const key of ['phase', 'outcome', 'totals', 'pledges', 'payout', 'refunds', 'failedRefunds']) expect({ [key]: after[key] }).toEqual({ [key]: before[key] });
    });
  });
}
