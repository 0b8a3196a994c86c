/**
 * The platform's settlement currency: what its Stripe balance holds, what every converted charge arrives as, and what
 * commission, payouts and transfers are reckoned and paid in. Stripe says it (the platform account's
 * `default_currency`; `accounts.retrieve(null)` is GET /v1/account), so no configuration can disagree with the
 * account. Asked once per process and Stripe client; a failed answer is not kept, so the next caller asks again.
 */
import type Stripe from 'stripe';

const settlementCurrencies = new WeakMap<Stripe, Promise<string>>();

/** The platform's settlement currency, uppercase as the database and the API spell currencies. */
export function platformSettlementCurrency(stripe: Stripe): Promise<string> {
  let known = settlementCurrencies.get(stripe);
  if (!known) {
    known = stripe.accounts.retrieve(null).then((account) => {
      if (!account.default_currency) throw new Error(`Stripe platform account ${account.id} has no default_currency`);
      return account.default_currency.toUpperCase();
    });
    settlementCurrencies.set(stripe, known);
    known.catch(() => settlementCurrencies.delete(stripe));
  }
  return known;
}
