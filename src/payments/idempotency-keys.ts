/**
 * Every Stripe request that moves money carries one of these keys. They are built from business ids only (never a
 * run id, attempt counter of a retry loop, or random value), so a retried or re-run request is the same request to
 * Stripe and cannot charge, refund or pay twice.
 */
export const stripeKeys = {
  customer: (userId: string) => `user-${userId}-customer`,
  connectAccount: (userId: string) => `user-${userId}-connect-account`,
  /** Placement of a pledge (PaymentIntent or SetupIntent); `revision` changes only when the backer edits it. */
  pledgeAuthorize: (pledgeId: string, revision = 0) => `pledge-${pledgeId}-authorize${revision ? `-${revision}` : ''}`,
  pledgeCapture: (pledgeId: string) => `pledge-${pledgeId}-capture`,
  /** Off-session charge at settlement; `attempt` counts backer-initiated retries (a new card), from 1. */
  pledgeCharge: (pledgeId: string, attempt: number) => `pledge-${pledgeId}-charge-${attempt}`,
  /** Cancelling one hold of a pledge (a changed pledge has had several): named by the hold's PaymentIntent. */
  pledgeRelease: (pledgeId: string, paymentIntentId: string) => `pledge-${pledgeId}-release-${paymentIntentId}`,
  payout: (campaignId: string) => `payout-${campaignId}`,
  refund: (refundId: string) => `refund-${refundId}`,
  refundReversal: (refundId: string) => `refund-${refundId}-reversal`,
};
