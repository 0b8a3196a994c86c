/**
 * Taking money back from a creator's transfer, once. Stripe forgets an idempotency key after 24 h, and a reversal
 * may be retried later than that (an outage, ops retrying): once an attempt has been counted, the transfer's
 * reversals are searched for this one's metadata before another is made.
 */
import type Stripe from 'stripe';

export interface ReversalRequest {
  transferId: string;
  amount: number;
  /** Names this reversal on Stripe (e.g. `{ refund_id }`), so that an earlier attempt can be found again. */
  metadata: Record<string, string>;
  /** The metadata key and value that identify it. */
  ownedBy: { key: string; value: string };
  idempotencyKey: string;
  /** Attempts counted before this one: a reversal may exist only if some were. */
  earlierAttempts: number;
  /** Counts this attempt (on the row that owns the reversal) before Stripe is asked. */
  countAttempt(): Promise<void>;
}

/** The reversal this request made, found again or made now. */
export async function reverseTransferOnce(stripe: Stripe, request: ReversalRequest): Promise<Stripe.TransferReversal> {
  const earlier = request.earlierAttempts > 0 ? await findReversal(stripe, request.transferId, request.ownedBy) : undefined;
  if (earlier) return earlier;
  await request.countAttempt();
  return stripe.transfers.createReversal(request.transferId, { amount: request.amount, metadata: request.metadata }, { idempotencyKey: request.idempotencyKey });
}

async function findReversal(stripe: Stripe, transferId: string, ownedBy: ReversalRequest['ownedBy']): Promise<Stripe.TransferReversal | undefined> {
  const ours = (reversal: Stripe.TransferReversal) => reversal.metadata?.[ownedBy.key] === ownedBy.value;
  // The transfer carries its latest reversals; older ones are paged through only when there are more.
  const transfer = await stripe.transfers.retrieve(transferId);
  const found = transfer.reversals.data.find(ours);
  if (found || !transfer.reversals.has_more) return found;
  for await (const reversal of stripe.transfers.listReversals(transferId, { limit: 100 })) {
    if (ours(reversal)) return reversal;
  }
  return undefined;
}
