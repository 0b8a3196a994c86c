/**
 * Every Stripe request that moves money carries one of these keys. They are built from business ids only (never a
 * run id, attempt counter of a retry loop, or random value), so a retried or re-run request is the same request to
 * Stripe and cannot charge, refund or pay twice.
 */
export const stripeKeys = {
  customer: (userId: string) => `user-${userId}-customer`,
  connectAccount: (userId: string) => `user-${userId}-connect-account`,
  /**
   * Placement of a pledge (PaymentIntent or SetupIntent), and each change of a held pledge's amount after it: per
   * revision and amount, so a declined change never blocks a change to another amount.
   */
  pledgeAuthorize: (pledgeId: string, change?: { revision: number; amount: number }) =>
    change ? `pledge-${pledgeId}-authorize-${change.revision}-${change.amount}` : `pledge-${pledgeId}-authorize`,
  pledgeCapture: (pledgeId: string) => `pledge-${pledgeId}-capture`,
  /** Off-session charge at settlement; `attempt` counts backer-initiated retries (a new card), from 1. */
  pledgeCharge: (pledgeId: string, attempt: number) => `pledge-${pledgeId}-charge-${attempt}`,
  /** Cancelling one hold of a pledge (a changed pledge has had several): named by the hold's PaymentIntent. */
  pledgeRelease: (pledgeId: string, paymentIntentId: string) => `pledge-${pledgeId}-release-${paymentIntentId}`,
  /** One version of a campaign's payout: a new version (new amount) only after Stripe refused the previous one. */
  payout: (campaignId: string, version: number) => `payout-${campaignId}-v${version}`,
  /** The second transfer of a payout that held a reserve back: what disputes left of it, once per campaign. */
  reserveRelease: (campaignId: string) => `reserve-${campaignId}-release`,
  refund: (refundId: string) => `refund-${refundId}`,
  /** A cancelled keep-it-all campaign's full refund of a pledge: named by the pledge, as there is one per pledge. */
  cancellationRefund: (pledgeId: string) => `pledge-${pledgeId}-cancellation-refund`,
  /** Taking the creator's share of a refund back after the payout: a step of its own, with a key of its own. */
  refundReversal: (refundId: string) => `refund-${refundId}-reversal`,
  /** Paying the creator's share again after a refund failed that had taken it back (a transfer reversal cannot be undone). */
  refundFailureRestore: (refundId: string) => `refund-${refundId}-restore`,
  /** Evidence for a dispute: named by what is sent (a digest of it), so the same evidence twice is one submission. */
  disputeEvidence: (stripeDisputeId: string, evidenceDigest: string) => `dispute-${stripeDisputeId}-evidence-${evidenceDigest}`,
  /** Accepting a dispute (closing it as lost): once per dispute. */
  disputeClose: (stripeDisputeId: string) => `dispute-${stripeDisputeId}-close`,
  /** Taking the creator's share of a dispute lost after the payout back: one reversal per dispute. */
  disputeRecovery: (stripeDisputeId: string) => `dispute-${stripeDisputeId}-recovery`,
};
