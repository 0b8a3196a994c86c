/**
 * Money at the edge and in the rules: integer minor units inside, decimal strings outside.
 *
 * Amounts are JavaScript numbers holding whole minor units, always checked with Number.isSafeInteger
 * (2^53 minor units is ~90 trillion dollars: far beyond any campaign), and Postgres `bigint` columns.
 * A float never holds money: `int(19.99 * 100)` is 1998.
 */

/**
 * Every presentment currency Stripe accepts (https://docs.stripe.com/currencies), one row each:
 * `[exponent, minimum charge]`.
 * - exponent: digits after the decimal point in Stripe's `amount` (ISO 4217 minor units): 0 for the currencies Stripe
 *   lists as zero-decimal, 3 for BHD, JOD, KWD, OMR and TND (whose amounts Stripe takes in steps of 10 minor units:
 *   the last digit must be 0), 2 for the rest.
 * - minimum charge: Stripe's minimum in minor units, for the currencies Stripe's table lists (its settlement
 *   currencies). Stripe applies the minimum of the platform's settlement currency after converting the charge.
 */
const CURRENCIES: Record<string, readonly [exponent: 0 | 2 | 3, minimumCharge?: number]> = {
  AED: [2, 200], AFN: [2], ALL: [2], AMD: [2], ANG: [2], AOA: [2], ARS: [2], AUD: [2, 50], AWG: [2], AZN: [2],
  BAM: [2], BBD: [2], BDT: [2], BGN: [2, 100], BHD: [3], BIF: [0], BMD: [2], BND: [2], BOB: [2], BRL: [2, 50],
  BSD: [2], BWP: [2], BYN: [2], BZD: [2], CAD: [2, 50], CDF: [2], CHF: [2, 50], CLP: [0], CNY: [2], COP: [2],
  CRC: [2], CVE: [2], CZK: [2, 1500], DJF: [0], DKK: [2, 250], DOP: [2], DZD: [2], EGP: [2], ETB: [2], EUR: [2, 50],
  FJD: [2], FKP: [2], GBP: [2, 30], GEL: [2], GIP: [2], GMD: [2], GNF: [0], GTQ: [2], GYD: [2], HKD: [2, 400],
  HNL: [2], HTG: [2], HUF: [2, 17500], IDR: [2], ILS: [2], INR: [2, 50], ISK: [2], JMD: [2], JOD: [3], JPY: [0, 50],
  KES: [2], KGS: [2], KHR: [2], KMF: [0], KRW: [0], KWD: [3], KYD: [2], KZT: [2], LAK: [2], LBP: [2], LKR: [2],
  LRD: [2], LSL: [2], MAD: [2], MDL: [2], MGA: [0], MKD: [2], MMK: [2], MNT: [2], MOP: [2], MUR: [2], MVR: [2],
  MWK: [2], MXN: [2, 1000], MYR: [2, 200], MZN: [2], NAD: [2], NGN: [2], NIO: [2], NOK: [2, 300], NPR: [2],
  NZD: [2, 50], OMR: [3], PAB: [2], PEN: [2], PGK: [2], PHP: [2], PKR: [2], PLN: [2, 200], PYG: [0], QAR: [2],
  RON: [2, 200], RSD: [2], RUB: [2], RWF: [0], SAR: [2], SBD: [2], SCR: [2], SEK: [2, 300], SGD: [2, 50], SHP: [2],
  SLE: [2], SLL: [2], SOS: [2], SRD: [2], STD: [2], SZL: [2], THB: [2, 1000], TJS: [2], TND: [3], TOP: [2], TRY: [2],
  TTD: [2], TWD: [2], TZS: [2], UAH: [2], UGX: [0], USD: [2, 50], UYU: [2], UZS: [2], VND: [0], VUV: [0], WST: [2],
  XAF: [0], XCD: [2], XOF: [0], XPF: [0], YER: [2], ZAR: [2], ZMW: [2],
};

/** The ISO 4217 codes Stripe accepts, uppercase (the API's and the database's spelling; Stripe's is lowercase). */
export const SUPPORTED_CURRENCIES: readonly string[] = Object.keys(CURRENCIES);

export class MoneyError extends Error {
  override name = 'MoneyError';
}

export function isSupportedCurrency(code: string): boolean {
  return Object.prototype.hasOwnProperty.call(CURRENCIES, code);
}

function rule(currency: string): readonly [exponent: 0 | 2 | 3, minimumCharge?: number] {
  if (!isSupportedCurrency(currency)) throw new MoneyError(`unsupported currency ${JSON.stringify(currency)}`);
  return CURRENCIES[currency]!;
}

export function currencyExponent(currency: string): number {
  return rule(currency)[0];
}

/** Stripe charges at most eight digits of minor units (999,999.99 USD; 99,999,999 JPY; 99,999.990 KWD). */
export const MAXIMUM_CHARGE_AMOUNT = 99_999_999;

/**
 * Stripe's smallest charge in `currency` where its table lists one, in minor units; undefined elsewhere. It is the
 * whole rule only when `currency` is also the platform's settlement currency: otherwise Stripe converts the charge
 * first and compares it with the settlement currency's minimum (see `localMinimumCharge`).
 */
export function minimumChargeAmount(currency: string): number | undefined {
  return rule(currency)[1];
}

/**
 * The minimum a charge in `currency` must reach that can be checked here exactly: Stripe's minimum when the charge
 * is in the settlement currency itself (no conversion), else 1 minor unit (Stripe converts at its own rate and
 * answers `amount_too_small` when the converted charge falls short).
 */
export function localMinimumCharge(currency: string, settlementCurrency: string | undefined): number {
  return currency === settlementCurrency ? (minimumChargeAmount(currency) ?? 1) : 1;
}

/** Three-decimal currencies: Stripe takes their amounts in steps of 10 minor units (0.010 KWD). */
const stepOf = (currency: string) => (currencyExponent(currency) === 3 ? 10 : 1);

// Plain digits with an optional fraction: no sign, exponent, spaces, separators or leading zeros.
const DECIMAL = /^(0|[1-9][0-9]*)(?:\.([0-9]+))?$/;

/**
 * Parses a decimal string ("1500.00", "19.99", "5") into minor units of `currency`.
 * Rejects negatives, exponents, NaN, separators, more decimals than the currency has, and three-decimal amounts
 * Stripe would refuse ("1.005" KWD).
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
  if (minor % stepOf(currency) !== 0) {
    throw new MoneyError(`${currency} amounts must end in 0: Stripe takes them in steps of ${fromMinorUnits(stepOf(currency), currency)}`);
  }
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
