/**
 * Money at the edge and in the rules: integer minor units inside, decimal strings outside.
 *
 * Amounts are JavaScript numbers holding whole minor units, always checked with Number.isSafeInteger
 * (2^53 minor units is ~90 trillion dollars: far beyond any campaign), and Postgres `bigint` columns.
 * A float never holds money: `int(19.99 * 100)` is 1998.
 */

interface CurrencyRule {
  /** ISO 4217 minor-unit exponent. */
  exponent: number;
  /** Stripe's minimum charge amount, in minor units (https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts). */
  minimumCharge: number;
}

/** The currencies campaigns may use: each has an ISO 4217 exponent and a Stripe minimum charge. */
const CURRENCIES = {
  USD: { exponent: 2, minimumCharge: 50 },
  EUR: { exponent: 2, minimumCharge: 50 },
  GBP: { exponent: 2, minimumCharge: 30 },
  CAD: { exponent: 2, minimumCharge: 50 },
  AUD: { exponent: 2, minimumCharge: 50 },
  NZD: { exponent: 2, minimumCharge: 50 },
  CHF: { exponent: 2, minimumCharge: 50 },
  SEK: { exponent: 2, minimumCharge: 300 },
  NOK: { exponent: 2, minimumCharge: 300 },
  DKK: { exponent: 2, minimumCharge: 250 },
  PLN: { exponent: 2, minimumCharge: 200 },
  CZK: { exponent: 2, minimumCharge: 1500 },
  SGD: { exponent: 2, minimumCharge: 50 },
  HKD: { exponent: 2, minimumCharge: 400 },
  MXN: { exponent: 2, minimumCharge: 1000 },
  JPY: { exponent: 0, minimumCharge: 50 },
} as const satisfies Record<string, CurrencyRule>;

export type Currency = keyof typeof CURRENCIES;
export const SUPPORTED_CURRENCIES = Object.keys(CURRENCIES) as Currency[];

export class MoneyError extends Error {
  override name = 'MoneyError';
}

export function isSupportedCurrency(code: string): code is Currency {
  return Object.prototype.hasOwnProperty.call(CURRENCIES, code);
}

function rule(currency: string): CurrencyRule {
  if (!isSupportedCurrency(currency)) throw new MoneyError(`unsupported currency ${JSON.stringify(currency)}`);
  return CURRENCIES[currency];
}

export function currencyExponent(currency: string): number {
  return rule(currency).exponent;
}

/** Stripe charges at most eight digits of minor units in these currencies (999,999.99 USD; 99,999,999 JPY). */
export const MAXIMUM_CHARGE_AMOUNT = 99_999_999;

/** Stripe's smallest chargeable amount for the currency, in minor units. */
export function minimumChargeAmount(currency: string): number {
  return rule(currency).minimumCharge;
}

// Plain digits with an optional fraction: no sign, exponent, spaces, separators or leading zeros.
const DECIMAL = /^(0|[1-9][0-9]*)(?:\.([0-9]+))?$/;

/**
 * Parses a decimal string ("1500.00", "19.99", "5") into minor units of `currency`.
 * Rejects negatives, exponents, NaN, separators and more decimals than the currency has.
 */
export function toMinorUnits(amount: string, currency: string): number {
  const exponent = currencyExponent(currency);
  const match = DECIMAL.exec(amount);
  if (!match) throw new MoneyError(`"${amount}" is not a plain decimal amount`);
  const whole = match[1] as string;
  const fraction = match[2] ?? '';
  if (fraction.length > exponent) {
    throw new MoneyError(`${currency} amounts have at most ${exponent} decimal places`);
  }
  const minor = Number(whole + fraction.padEnd(exponent, '0'));
  if (!Number.isSafeInteger(minor)) throw new MoneyError(`"${amount}" is too large`);
  return minor;
}

/** Formats minor units as the API's decimal string: 199900 USD -> "1999.00", 500 JPY -> "500". */
export function fromMinorUnits(minor: number, currency: string): string {
  assertMinorUnits(minor);
  const exponent = currencyExponent(currency);
  const sign = minor < 0 ? '-' : '';
  const digits = Math.abs(minor).toString().padStart(exponent + 1, '0');
  if (exponent === 0) return sign + digits;
  return `${sign}${digits.slice(0, -exponent)}.${digits.slice(-exponent)}`;
}

export function assertMinorUnits(value: number): void {
  if (!Number.isSafeInteger(value)) throw new MoneyError(`${value} is not a whole number of minor units`);
}

export const MIN_PLATFORM_FEE_BPS = 500;
export const MAX_PLATFORM_FEE_BPS = 800;
export const DEFAULT_PLATFORM_FEE_BPS = 600;

/**
 * The platform's commission on a campaign: `bps` basis points of the net collected (captured minus refunded),
 * rounded half-up once, on the total (never per pledge, where rounding errors would add up).
 */
export function platformCommission(netCollected: number, bps: number): number {
  assertMinorUnits(netCollected);
  if (netCollected < 0) throw new MoneyError('net collected cannot be negative');
  if (!Number.isInteger(bps) || bps < 0 || bps > 10_000) throw new MoneyError(`invalid basis points ${bps}`);
  // BigInt keeps amount * bps exact past 2^53.
  const commission = (BigInt(netCollected) * BigInt(bps) + 5_000n) / 10_000n;
  return Number(commission);
}
