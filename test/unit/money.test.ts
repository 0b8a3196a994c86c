import {
  currencyExponent,
  fromMinorUnits,
  isSupportedCurrency,
  localMinimumCharge,
  minimumChargeAmount,
  MoneyError,
  platformCommission,
  toMinorUnits,
} from '../../src/money';

describe('toMinorUnits', () => {
  it('converts the brief’s bug case exactly: 19.99 is 1999 cents, not 1998', () => {
    expect(toMinorUnits('19.99', 'USD')).toBe(1999);
    // The bug being guarded against: truncating the float product.
    expect(Math.trunc(19.99 * 100)).toBe(1998);
  });

  it.each([
    ['1500.00', 'USD', 150000],
    ['1500', 'USD', 150000],
    ['0.5', 'EUR', 50],
    ['0.05', 'EUR', 5],
    ['0', 'USD', 0],
    ['500', 'JPY', 500],
    ['1.10', 'GBP', 110],
    ['90071992547409.91', 'USD', 9007199254740991],
    ['1.010', 'KWD', 1010],
    ['1.01', 'KWD', 1010],
    ['12.5', 'BHD', 12500],
    ['150000', 'KRW', 150000],
    ['1500.50', 'RUB', 150050],
  ])('%s %s -> %d', (input, currency, expected) => {
    expect(toMinorUnits(input, currency)).toBe(expected);
  });

  it.each([
    ['1.999', 'USD', 'at most 2 decimal places'],
    ['1.5', 'JPY', 'at most 0 decimal places'],
    ['-1.00', 'USD', 'not a plain decimal'],
    ['1e3', 'USD', 'not a plain decimal'],
    ['NaN', 'USD', 'not a plain decimal'],
    ['Infinity', 'USD', 'not a plain decimal'],
    ['', 'USD', 'not a plain decimal'],
    [' 1.00', 'USD', 'not a plain decimal'],
    ['1,000.00', 'USD', 'not a plain decimal'],
    ['01.00', 'USD', 'not a plain decimal'],
    ['1.', 'USD', 'not a plain decimal'],
    ['.5', 'USD', 'not a plain decimal'],
    ['0x10', 'USD', 'not a plain decimal'],
    ['90071992547409.92', 'USD', 'too large'],
    ['1.00', 'XXX', 'unsupported currency'],
    ['1.00', 'usd', 'unsupported currency'],
    ['1.005', 'KWD', 'must end in 0'],
    ['0.001', 'TND', 'must end in 0'],
    ['1.0001', 'OMR', 'at most 3 decimal places'],
    ['100.5', 'VND', 'at most 0 decimal places'],
  ])('rejects %j %s', (input, currency, message) => {
    expect(() => toMinorUnits(input, currency)).toThrow(MoneyError);
    expect(() => toMinorUnits(input, currency)).toThrow(message);
  });
});

describe('fromMinorUnits', () => {
  it.each([
    [1999, 'USD', '19.99'],
    [5, 'USD', '0.05'],
    [0, 'EUR', '0.00'],
    [150000, 'USD', '1500.00'],
    [500, 'JPY', '500'],
    [-250, 'USD', '-2.50'],
    [1010, 'KWD', '1.010'],
    [5, 'JOD', '0.005'],
    [1500, 'XOF', '1500'],
  ])('%d %s -> %s', (minor, currency, expected) => {
    expect(fromMinorUnits(minor, currency)).toBe(expected);
  });

  it('round-trips every cent value of a range', () => {
    for (let cents = 0; cents < 20_000; cents += 7) {
      expect(toMinorUnits(fromMinorUnits(cents, 'USD'), 'USD')).toBe(cents);
    }
  });

  it('refuses fractional minor units', () => {
    expect(() => fromMinorUnits(19.99, 'USD')).toThrow(MoneyError);
  });
});

describe('platformCommission', () => {
  it('takes basis points of the total, rounded half-up once', () => {
    expect(platformCommission(100_000, 600)).toBe(6_000);
    // 6% of 1999 = 119.94 -> 120
    expect(platformCommission(1_999, 600)).toBe(120);
    // 5% of 10 = 0.5 -> 1 (half rounds up)
    expect(platformCommission(10, 500)).toBe(1);
    // 5% of 9 = 0.45 -> 0
    expect(platformCommission(9, 500)).toBe(0);
    expect(platformCommission(0, 800)).toBe(0);
  });

  it('on the total differs from the sum of per-pledge rounding', () => {
    const pledges = [1_008, 1_008, 1_008]; // 6% of each = 60.48 -> 60
    const perPledge = pledges.reduce((sum, amount) => sum + platformCommission(amount, 600), 0);
    expect(perPledge).toBe(180);
    expect(platformCommission(3_024, 600)).toBe(181); // 181.44 -> 181, once
  });

  it('stays exact beyond 2^53 intermediate products', () => {
    expect(platformCommission(9_007_199_254_740_991, 800)).toBe(720_575_940_379_279);
  });

  it('rejects negative totals and bad rates', () => {
    expect(() => platformCommission(-1, 600)).toThrow(MoneyError);
    expect(() => platformCommission(100, 10_001)).toThrow(MoneyError);
    expect(() => platformCommission(100, 5.5)).toThrow(MoneyError);
    expect(() => platformCommission(1.5, 600)).toThrow(MoneyError);
  });
});

describe('minimumChargeAmount', () => {
  it('follows Stripe’s table per currency, and has none where Stripe lists none', () => {
    expect(minimumChargeAmount('USD')).toBe(50);
    expect(minimumChargeAmount('GBP')).toBe(30);
    expect(minimumChargeAmount('JPY')).toBe(50);
    expect(minimumChargeAmount('HUF')).toBe(17_500);
    expect(minimumChargeAmount('RUB')).toBeUndefined();
    expect(() => minimumChargeAmount('ZZZ')).toThrow(MoneyError);
  });

  it('is checked locally only in the settlement currency: elsewhere Stripe converts first', () => {
    expect(localMinimumCharge('USD', 'USD')).toBe(50);
    expect(localMinimumCharge('GBP', 'GBP')).toBe(30);
    expect(localMinimumCharge('EUR', 'USD')).toBe(1);
    expect(localMinimumCharge('USD', undefined)).toBe(1);
  });
});

describe('the currency table', () => {
  it('holds every Stripe presentment currency with its exponent', () => {
    for (const code of ['USD', 'EUR', 'RUB', 'INR', 'BRL', 'AED', 'ZMW']) expect(currencyExponent(code)).toBe(2);
    for (const code of ['BIF', 'CLP', 'DJF', 'GNF', 'JPY', 'KMF', 'KRW', 'MGA', 'PYG', 'RWF', 'UGX', 'VND', 'VUV', 'XAF', 'XOF', 'XPF']) expect(currencyExponent(code)).toBe(0);
    for (const code of ['BHD', 'JOD', 'KWD', 'OMR', 'TND']) expect(currencyExponent(code)).toBe(3);
    expect(isSupportedCurrency('XXX')).toBe(false);
  });
});
