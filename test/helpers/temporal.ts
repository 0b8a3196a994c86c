/**
 * The Temporal server a test file runs against: the stand-in by default, or Temporal's own servers as the
 * environment chooses (`@crowdfund/temporal-standin/testing` says how), with the campaign search attributes when
 * the workflows under test upsert them.
 */
import { type TestWorkflowEnvironment } from '@temporalio/testing';
import { createTestWorkflowEnvironment as createEnvironment } from '@crowdfund/temporal-standin/testing';
import { CAMPAIGN_SEARCH_ATTRIBUTES } from '../../workflows/search-attributes';

export function createTestWorkflowEnvironment(options: { searchAttributes?: boolean } = {}): Promise<TestWorkflowEnvironment> {
  return createEnvironment(options.searchAttributes ? { searchAttributes: CAMPAIGN_SEARCH_ATTRIBUTES } : {});
}
