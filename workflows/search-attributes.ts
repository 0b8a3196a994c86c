/** The campaign's search attributes: ops find workflows in Temporal UI by these (`CampaignStatus = "funded"`). */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const CampaignIdKey = defineSearchAttributeKey('CampaignId', SearchAttributeType.KEYWORD);
export const CampaignStatusKey = defineSearchAttributeKey('CampaignStatus', SearchAttributeType.KEYWORD);
export const CampaignModelKey = defineSearchAttributeKey('CampaignModel', SearchAttributeType.KEYWORD);
export const CampaignEndsAtKey = defineSearchAttributeKey('CampaignEndsAt', SearchAttributeType.DATETIME);

/** For `temporal operator search-attribute create` and the stand-in's registration. */
export const CAMPAIGN_SEARCH_ATTRIBUTES = {
  CampaignId: 'Keyword',
  CampaignStatus: 'Keyword',
  CampaignModel: 'Keyword',
  CampaignEndsAt: 'Datetime',
} as const;
