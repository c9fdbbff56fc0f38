import { describe, expect, it } from 'vitest';
import {
  DecimalError,
  addDecimals,
  canonicalAmount,
  compareDecimals,
  decimalsEqual,
  formatDecimal,
  isDecimalText,
  parseDecimal,
  subtractDecimals,
  sumDecimals,
} from '../../src/domain/decimal.js';

describe('canonicalAmount', () => {
  it.each([
    ['1.50', '1.5'],
    ['1.5', '1.5'],
    ['1.00', '1'],
    ['10.0', '10'],
    ['10', '10'],
    ['100', '100'],
    ['007', '7'],
    ['00.50', '0.5'],
    ['0', '0'],
    ['0.000', '0'],
    ['-0', '0'],
    ['-0.00', '0'],
    ['-12.340', '-12.34'],
    ['-0.010', '-0.01'],
    ['0.000000001', '0.000000001'],
    ['99999999999999999999999999999.999999999', '99999999999999999999999999999.999999999'],
  ])('%s → %s', (text, canonical) => {
    expect(canonicalAmount(text)).toBe(canonical);
    expect(formatDecimal(parseDecimal(text))).toBe(canonical);
  });

  it.each(['1e5', '+1.00', '1,000.00', ' 1.00', '1.', '.5', '', '-', '1.0000000001', 'NaN', '0x10'])(
    'rejects %j with a DecimalError',
    (text) => {
      expect(() => canonicalAmount(text)).toThrow(DecimalError);
      expect(() => parseDecimal(text)).toThrow(DecimalError);
    },
  );
});

describe('exact arithmetic', () => {
  it('adds without floating point error', () => {
    expect(addDecimals('0.1', '0.2')).toBe('0.3');
    expect(sumDecimals(Array.from({ length: 10 }, () => '0.1'))).toBe('1');
    expect(addDecimals('-12.00', '12')).toBe('0');
    expect(subtractDecimals('100.01', '0.02')).toBe('99.99');
  });

  it('sums beyond 2^53 and beyond NUMERIC integer digits exactly', () => {
    const big = '99999999999999999999999999999.999999999';
    expect(sumDecimals([big, big])).toBe('199999999999999999999999999999.999999998');
    expect(sumDecimals(['9007199254740993', '0.01'])).toBe('9007199254740993.01');
    expect(sumDecimals([])).toBe('0');
  });

  it('compares numerically, not textually', () => {
    expect(compareDecimals('1.50', '1.5')).toBe(0);
    expect(compareDecimals('2', '10')).toBe(-1);
    expect(compareDecimals('-1', '-10')).toBe(1);
    expect(decimalsEqual('1.50', '1.5')).toBe(true);
    expect(decimalsEqual('1.51', '1.5')).toBe(false);
  });

  it('formats with a minimum number of fraction digits', () => {
    expect(formatDecimal(parseDecimal('12'), 2)).toBe('12.00');
    expect(formatDecimal(parseDecimal('-0.5'), 2)).toBe('-0.50');
    expect(formatDecimal(parseDecimal('1.234'), 2)).toBe('1.234');
    expect(formatDecimal(0n, 2)).toBe('0.00');
  });
});

describe('what a bad amount tells the operator', () => {
  it('isDecimalText accepts exact decimals, a leading minus included, and refuses a plus sign, exponents, commas, a bare point, blanks and too many fractional digits', () => {
    expect(['0', '-1', '12.5', '-0.000000001', '99999999999999999999999999999.999999999'].map(isDecimalText)).toEqual([true, true, true, true, true]);
    expect(['+1', '1e5', '1,5', '.5', '1.', '0.0000000001', '', ' 1'].map(isDecimalText)).toEqual([false, false, false, false, false, false, false, false]);
  });

  it('raises a DecimalError carrying its code, name, the text and a message naming the rule', () => {
    let error: unknown;
    try {
      canonicalAmount('1e5');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DecimalError);
    expect(error).toMatchObject({
      code: 'INVALID_DECIMAL',
      name: 'DecimalError',
      text: '1e5',
      message: 'not an exact decimal with at most 9 fractional digits: "1e5"',
    });
  });
});
