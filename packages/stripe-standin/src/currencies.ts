/**
 * Stripe's presentment currencies, their minor units and minimum charges (https://docs.stripe.com/currencies), and
 * the stand-in's fixed exchange rates into the platform's settlement currency.
 */
import { invalidRequest } from './errors';

/** Zero-decimal currencies as Stripe lists them: `amount` is in whole units. */
const ZERO_DECIMAL = new Set(['bif', 'clp', 'djf', 'gnf', 'jpy', 'kmf', 'krw', 'mga', 'pyg', 'rwf', 'ugx', 'vnd', 'vuv', 'xaf', 'xof', 'xpf']);
/** Three-decimal currencies: Stripe requires the last digit of `amount` to be 0. */
const THREE_DECIMAL = new Set(['bhd', 'jod', 'kwd', 'omr', 'tnd']);

/**
 * USD per one major unit of every presentment currency Stripe accepts: deterministic, roughly market, never
 * fetched. Rates into another settlement currency are derived from it.
 */
const USD_PER_UNIT: Record<string, number> = {
  usd: 1, aed: 0.2723, afn: 0.0141, all: 0.0108, amd: 0.00258, ang: 0.5587, aoa: 0.00109, ars: 0.00105, aud: 0.655,
  awg: 0.5556, azn: 0.5882, bam: 0.5522, bbd: 0.5, bdt: 0.00833, bgn: 0.5522, bhd: 2.6596, bif: 0.000348, bmd: 1,
  bnd: 0.744, bob: 0.1447, brl: 0.1818, bsd: 1, bwp: 0.0735, byn: 0.3058, bzd: 0.4975, cad: 0.7299, cdf: 0.000352,
  chf: 1.1299, clp: 0.00106, cny: 0.1381, cop: 0.000247, crc: 0.00196, cve: 0.00979, czk: 0.0431, djf: 0.00562,
  dkk: 0.1448, dop: 0.0165, dzd: 0.00742, egp: 0.0205, etb: 0.0073, eur: 1.08, fjd: 0.4405, fkp: 1.27, gbp: 1.27,
  gel: 0.3663, gip: 1.27, gmd: 0.0143, gnf: 0.000116, gtq: 0.1289, gyd: 0.00478, hkd: 0.128, hnl: 0.0395, htg: 0.00758,
  huf: 0.00275, idr: 0.0000625, ils: 0.27, inr: 0.012, isk: 0.00725, jmd: 0.00637, jod: 1.4104, jpy: 0.0067,
  kes: 0.00775, kgs: 0.01149, khr: 0.000245, kmf: 0.00219, krw: 0.00075, kwd: 3.2573, kyd: 1.2, kzt: 0.00205,
  lak: 0.0000456, lbp: 0.0000112, lkr: 0.00333, lrd: 0.00515, lsl: 0.0546, mad: 0.0996, mdl: 0.0562, mga: 0.000222,
  mkd: 0.0175, mmk: 0.000476, mnt: 0.000294, mop: 0.1243, mur: 0.0217, mvr: 0.0649, mwk: 0.000577, mxn: 0.0543,
  myr: 0.2247, mzn: 0.01565, nad: 0.0546, ngn: 0.00065, nio: 0.0272, nok: 0.0926, npr: 0.0075, nzd: 0.5952,
  omr: 2.5974, pab: 1, pen: 0.2667, pgk: 0.2558, php: 0.0175, pkr: 0.00358, pln: 0.2506, pyg: 0.000133, qar: 0.2747,
  ron: 0.2169, rsd: 0.00922, rub: 0.0109, rwf: 0.00077, sar: 0.2666, sbd: 0.1186, scr: 0.0735, sek: 0.0943,
  sgd: 0.744, shp: 1.27, sle: 0.0442, sll: 0.0000442, sos: 0.00175, srd: 0.0282, std: 0.0000442, szl: 0.0546,
  thb: 0.0278, tjs: 0.0917, tnd: 0.3205, top: 0.4237, try: 0.0303, ttd: 0.1473, twd: 0.0311, tzs: 0.000387,
  uah: 0.0243, ugx: 0.000267, uyu: 0.0255, uzs: 0.0000793, vnd: 0.0000405, vuv: 0.00842, wst: 0.3636, xaf: 0.001646,
  xcd: 0.3704, xof: 0.001646, xpf: 0.00905, yer: 0.004, zar: 0.0546, zmw: 0.0376,
};

/** Stripe's minimum charge in each settlement currency it lists, in minor units; elsewhere the equivalent of 0.50 USD. */
const MINIMUM_CHARGE: Record<string, number> = {
  usd: 50, aed: 200, aud: 50, bgn: 100, brl: 50, cad: 50, chf: 50, czk: 1500, dkk: 250, eur: 50, gbp: 30, hkd: 400,
  huf: 17500, inr: 50, jpy: 50, mxn: 1000, myr: 200, nok: 300, nzd: 50, pln: 200, ron: 200, sek: 300, sgd: 50, thb: 1000,
};

/** Stripe's largest charge: eight digits of minor units. */
export const MAXIMUM_AMOUNT = 99_999_999;

export const SUPPORTED_CURRENCIES: readonly string[] = Object.keys(USD_PER_UNIT);

export function isSupportedCurrency(currency: string): boolean {
  return Object.hasOwn(USD_PER_UNIT, currency);
}

/** Digits after the decimal point in Stripe's `amount` for this currency. */
export function exponent(currency: string): number {
  if (ZERO_DECIMAL.has(currency)) return 0;
  if (THREE_DECIMAL.has(currency)) return 3;
  return 2;
}

/** The currency as Stripe accepts it in a payment request (lowercase, supported), or a 400 on `param`. */
export function parseCurrency(value: unknown, param = 'currency'): string {
  const currency = String(value ?? '').toLowerCase();
  if (!currency) throw invalidRequest('Missing required param: currency.', param);
  if (!isSupportedCurrency(currency)) {
    throw invalidRequest(`Invalid currency: ${currency}. Stripe currently supports these currencies: ${SUPPORTED_CURRENCIES.join(', ')}`, param);
  }
  return currency;
}

/** Amount rules that depend only on the currency: positive integer, the three-decimal last digit, the maximum. */
export function checkAmountDigits(amount: number, currency: string, param = 'amount'): void {
  if (!Number.isInteger(amount) || amount <= 0) throw invalidRequest('Invalid positive integer', param);
  if (THREE_DECIMAL.has(currency) && amount % 10 !== 0) {
    throw invalidRequest(`Amounts in ${currency} must be rounded to the nearest ten: the last digit of ${param} must be 0 (for example ${amount - (amount % 10)} or ${amount - (amount % 10) + 10}).`, param, 'invalid_amount');
  }
  if (amount > MAXIMUM_AMOUNT) throw invalidRequest(`Amount must be no more than ${MAXIMUM_AMOUNT} ${currency}`, param, 'amount_too_large');
}

export function formatAmount(amount: number, currency: string): string {
  return `${(amount / 10 ** exponent(currency)).toFixed(exponent(currency))} ${currency.toUpperCase()}`;
}

/**
 * The platform's settlement currency and the rates into it: settlement-currency units per one unit of each
 * presentment currency (`rate(eur) = 1.08` on a USD platform). `replace` installs a test's own rates over the table.
 */
export class ExchangeRates {
  private overrides: Record<string, number> = {};

  constructor(readonly settlementCurrency: string) {}

  /** Settlement-currency units per unit of `currency`, as Stripe's `exchange_rate` states it. */
  rate(currency: string): number {
    if (currency === this.settlementCurrency) return 1;
    const override = this.overrides[currency];
    if (override !== undefined) return override;
    // Six significant digits, like the rates Stripe shows; conversion uses exactly the rate it reports.
    return Number((USD_PER_UNIT[currency]! / USD_PER_UNIT[this.settlementCurrency]!).toPrecision(6));
  }

  replace(rates: Record<string, unknown>): Record<string, number> {
    const next: Record<string, number> = {};
    for (const [code, value] of Object.entries(rates)) {
      const currency = code.toLowerCase();
      const rate = Number(value);
      if (!isSupportedCurrency(currency)) throw invalidRequest(`Invalid currency: ${currency}.`, 'rates');
      if (!(rate > 0) || !Number.isFinite(rate)) throw invalidRequest(`The rate for ${currency} must be a positive number.`, 'rates');
      if (currency !== this.settlementCurrency) next[currency] = rate;
    }
    this.overrides = next;
    return next;
  }

  /** `amount` minor units of `currency` in settlement-currency minor units at `rate` (rounded half away from zero). */
  convert(amount: number, currency: string, rate = this.rate(currency)): number {
    if (currency === this.settlementCurrency) return amount;
    const exact = amount * rate * 10 ** (exponent(this.settlementCurrency) - exponent(currency));
    // toPrecision trims binary noise (1000 * 1.234 = 1233.9999...) before rounding.
    const magnitude = Math.round(Number(Math.abs(exact).toPrecision(12)));
    return exact < 0 ? -magnitude : magnitude;
  }

  /** Stripe's minimum in the settlement currency, in its minor units. */
  settlementMinimum(): number {
    return MINIMUM_CHARGE[this.settlementCurrency] ?? Math.max(1, this.convertFromUsd(50));
  }

  /** Stripe's own minimum in the presentment currency, where its table lists one. */
  presentmentMinimum(currency: string): number | undefined {
    return MINIMUM_CHARGE[currency];
  }

  /** A USD-denominated Stripe fee (the 15.00 USD dispute fee) in the settlement currency. */
  convertFromUsd(amount: number): number {
    return this.convert(amount, 'usd');
  }
}

/** The country a platform settling in this currency is most likely in (for the platform account object). */
export function countryOf(currency: string): string {
  const countries: Record<string, string> = {
    usd: 'US', eur: 'DE', gbp: 'GB', cad: 'CA', aud: 'AU', jpy: 'JP', chf: 'CH', sek: 'SE', nok: 'NO', dkk: 'DK', nzd: 'NZ',
    sgd: 'SG', hkd: 'HK', mxn: 'MX', brl: 'BR', pln: 'PL', czk: 'CZ', inr: 'IN', myr: 'MY', thb: 'TH', ron: 'RO', bgn: 'BG',
    huf: 'HU', aed: 'AE',
  };
  return countries[currency] ?? 'US';
}
