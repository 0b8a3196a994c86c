/**
 * Validation that needs the currency or the clock, after the request's shape is parsed (src/campaigns/schemas.ts):
 * pledge and campaign amounts, dates and durations, refund terms. Each refusal names the field at fault.
 */
import { type Config } from '../config';
import { type DomainError, invalidField, unprocessable } from '../errors';
import { fromMinorUnits, localMinimumCharge, MAXIMUM_CHARGE_AMOUNT, minimumChargeAmount, MoneyError, toMinorUnits } from '../money';
import { type CreateCampaignBody } from './schemas';

/** Decimal string -> minor units of `currency`; an invalid-field error naming `field` when it is not an amount of that currency. */
function minorUnitsOf(field: string, amount: string, currency: string): number {
  try {
    return toMinorUnits(amount, currency);
  } catch (error) {
    if (error instanceof MoneyError) throw invalidField(field, error.message);
    throw error;
  }
}

/**
 * Decimal string -> minor units of `currency` for an amount that is not itself charged (a goal, a reward's minimum, a
 * stretch goal): positive, and at least Stripe's minimum charge in that currency where Stripe lists one; an
 * invalid-field error naming `field` otherwise.
 */
export function chargeableAmount(field: string, amount: string, currency: string): number {
  const minor = minorUnitsOf(field, amount, currency);
  const minimum = minimumChargeAmount(currency) ?? 1;
  if (minor < minimum) throw invalidField(field, `must be at least ${fromMinorUnits(minimum, currency)} ${currency}`);
  return minor;
}

const belowMinimum = (message: string, currency: string, minimum?: number) =>
  unprocessable('amount_below_currency_minimum', message, [
    { path: 'amount', message: minimum === undefined ? message : `must be at least ${fromMinorUnits(minimum, currency)} ${currency}` },
  ]);

/**
 * A pledge's amount: what one Stripe charge can take, from its minimum to its maximum; an error naming `amount`
 * otherwise. Stripe's minimum is checked here only where the answer is exact, a charge in the platform's settlement
 * currency (`settlementCurrency`); a converted charge is judged by Stripe after conversion (`minimumChargeRefusal`).
 */
export function pledgeAmount(amount: string, currency: string, settlementCurrency?: string): number {
  const minor = minorUnitsOf('amount', amount, currency);
  const minimum = localMinimumCharge(currency, settlementCurrency);
  if (minor < minimum) throw belowMinimum(`The smallest pledge is ${fromMinorUnits(minimum, currency)} ${currency}`, currency, minimum);
  if (minor > MAXIMUM_CHARGE_AMOUNT) {
    const maximum = fromMinorUnits(MAXIMUM_CHARGE_AMOUNT, currency);
    throw unprocessable('amount_above_currency_maximum', `The largest pledge one card charge can take is ${maximum} ${currency}`, [
      { path: 'amount', message: `must be at most ${maximum} ${currency}` },
    ]);
  }
  return minor;
}

/**
 * Stripe's `amount_too_small` (the charge, converted into the settlement currency, is below Stripe's minimum there)
 * as the API's 422 naming `amount`; null for any other error.
 */
export function minimumChargeRefusal(error: unknown, currency: string): DomainError | null {
  if ((error as { code?: unknown } | null)?.code !== 'amount_too_small') return null;
  const detail = (error as { message?: string }).message ?? 'below Stripe\'s minimum charge';
  return belowMinimum(`This pledge is below the smallest charge Stripe takes in ${currency} for this platform: ${detail}`, currency);
}

export interface CheckedCampaign {
  goalAmount: number;
  startsAt: Date;
  endsAt: Date;
}

const CLOCK_SKEW_MS = 60_000;

export function checkCampaign(body: CreateCampaignBody, config: Config, now = Date.now()): CheckedCampaign {
  const goalAmount = chargeableAmount('goalAmount', body.goalAmount, body.currency);
  const startsAt = new Date(body.startsAt);
  const endsAt = new Date(body.endsAt);
  if (startsAt.getTime() < now - CLOCK_SKEW_MS) throw invalidField('startsAt', 'must not be in the past');
  if (endsAt <= startsAt) throw invalidField('endsAt', 'must be after startsAt');
  const duration = endsAt.getTime() - startsAt.getTime();
  const { minDurationMs, maxDurationMs } = config.campaigns;
  if (duration < minDurationMs || duration > maxDurationMs) {
    throw invalidField('endsAt', `the campaign must last between ${minDurationMs / 1000} and ${maxDurationMs / 1000} seconds`);
  }
  if (body.model === 'kia' && !body.refundTerms) throw invalidField('refundTerms', 'is required for keep-it-all campaigns');
  return { goalAmount, startsAt, endsAt };
}
