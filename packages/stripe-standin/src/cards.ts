/**
 * Stripe's documented test payment methods (https://docs.stripe.com/testing) and how each behaves when charged.
 */
export type CardBehaviour =
  | 'succeeds'
  | 'available_immediately'
  | 'declined'
  | 'insufficient_funds'
  | 'expired_card'
  | 'always_authenticate'
  | 'authenticate_unless_setup'
  | 'setup_for_off_session'
  | 'attach_ok_charge_fails'
  /** The charge succeeds; a refund of it is accepted, then fails later. */
  | 'refund_fails'
  /** The charge succeeds, then the cardholder disputes it. */
  | 'disputed';

interface TestCard {
  brand: string;
  last4: string;
  behaviour: CardBehaviour;
  /** The dispute reason, for cards that are disputed. */
  disputeReason?: string;
}

export const TEST_CARDS: Record<string, TestCard> = {
  pm_card_visa: { brand: 'visa', last4: '4242', behaviour: 'succeeds' },
  pm_card_mastercard: { brand: 'mastercard', last4: '4444', behaviour: 'succeeds' },
  pm_card_bypassPending: { brand: 'visa', last4: '0077', behaviour: 'available_immediately' },
  pm_card_chargeDeclined: { brand: 'visa', last4: '0002', behaviour: 'declined' },
  pm_card_chargeDeclinedInsufficientFunds: { brand: 'visa', last4: '9995', behaviour: 'insufficient_funds' },
  pm_card_chargeDeclinedExpiredCard: { brand: 'visa', last4: '0069', behaviour: 'expired_card' },
  pm_card_authenticationRequired: { brand: 'visa', last4: '3184', behaviour: 'always_authenticate' },
  pm_card_authenticationRequiredOnSetup: { brand: 'visa', last4: '3155', behaviour: 'authenticate_unless_setup' },
  pm_card_authenticationRequiredSetupForOffSession: { brand: 'visa', last4: '3155', behaviour: 'setup_for_off_session' },
  pm_card_chargeCustomerFail: { brand: 'visa', last4: '0341', behaviour: 'attach_ok_charge_fails' },
  pm_card_visa_debit: { brand: 'visa', last4: '5556', behaviour: 'succeeds' },
  pm_card_amex: { brand: 'amex', last4: '8431', behaviour: 'succeeds' },
  pm_card_discover: { brand: 'discover', last4: '1117', behaviour: 'succeeds' },
  pm_card_refundFail: { brand: 'visa', last4: '5126', behaviour: 'refund_fails' },
  pm_card_createDispute: { brand: 'visa', last4: '0259', behaviour: 'disputed', disputeReason: 'fraudulent' },
  pm_card_createDisputeProductNotReceived: { brand: 'visa', last4: '2685', behaviour: 'disputed', disputeReason: 'product_not_received' },
};

export interface ChargeDecision {
  outcome: 'success' | 'decline' | 'authenticate';
  code?: string;
  declineCode?: string;
  message?: string;
}

/**
 * What happens when a card is charged. `offSession` charges cannot authenticate, so a card that needs it fails with
 * `authentication_required`; `setUp` says the card was saved for off-session use with authentication done.
 */
export function decideCharge(behaviour: CardBehaviour, options: { offSession: boolean; setUp: boolean }): ChargeDecision {
  switch (behaviour) {
    case 'declined':
    case 'attach_ok_charge_fails':
      return { outcome: 'decline', code: 'card_declined', declineCode: 'generic_decline', message: 'Your card was declined.' };
    case 'insufficient_funds':
      return { outcome: 'decline', code: 'card_declined', declineCode: 'insufficient_funds', message: 'Your card has insufficient funds.' };
    case 'expired_card':
      return { outcome: 'decline', code: 'expired_card', declineCode: 'expired_card', message: 'Your card has expired.' };
    case 'always_authenticate':
      return authenticate(options.offSession);
    case 'authenticate_unless_setup':
      return options.setUp && options.offSession ? { outcome: 'success' } : authenticate(options.offSession);
    case 'setup_for_off_session':
      return options.offSession ? { outcome: 'success' } : authenticate(false);
    default:
      return { outcome: 'success' };
  }
}

function authenticate(offSession: boolean): ChargeDecision {
  return offSession
    ? { outcome: 'decline', code: 'authentication_required', declineCode: 'authentication_required', message: 'Your card was declined. This transaction requires authentication.' }
    : { outcome: 'authenticate' };
}

/** Setting a card up (SetupIntent): declines decline; cards that need 3-D Secure on setup ask for it. */
export function decideSetup(behaviour: CardBehaviour): ChargeDecision {
  if (behaviour === 'declined' || behaviour === 'insufficient_funds' || behaviour === 'expired_card') return decideCharge(behaviour, { offSession: false, setUp: false });
  if (behaviour === 'always_authenticate' || behaviour === 'authenticate_unless_setup') return { outcome: 'authenticate' };
  return { outcome: 'success' };
}
