/**
 * Exact decimal money arithmetic. Amounts travel as text (the contract's `amount`); arithmetic uses
 * BigInt scaled by 10^9 (the contract allows at most 9 fractional digits). Money is never a JS float.
 * Pure and free of Node built-ins, so workflow code may use it.
 */

/** Fractional digits carried by the scaled representation. */
export const DECIMAL_SCALE = 9;
const SCALE_FACTOR = 1_000_000_000n;
/** Decimal text accepted by the helpers: like the contract's amount, but any number of integer digits (sums grow). */
const DECIMAL_TEXT = /^-?[0-9]+(\.[0-9]{1,9})?$/;

/** Raised when a text is not an exact decimal; carries the offending text. */
export class DecimalError extends Error {
  readonly code = 'INVALID_DECIMAL';
  constructor(readonly text: string) {
    super(`not an exact decimal with at most ${DECIMAL_SCALE} fractional digits: ${JSON.stringify(text)}`);
    this.name = 'DecimalError';
  }
}

/** True if `text` is an exact decimal the helpers accept (`-?digits(.1–9 digits)?`, no '+', no exponent). */
export const isDecimalText = (text: string): boolean => DECIMAL_TEXT.test(text);

/** Parses decimal text into an integer scaled by 10^9 (`'1.5'` → `1_500_000_000n`). */
export const parseDecimal = (text: string): bigint => {
  if (!DECIMAL_TEXT.test(text)) throw new DecimalError(text);
  const negative = text.charCodeAt(0) === 45; // '-'
  const body = negative ? text.slice(1) : text;
  const dot = body.indexOf('.');
  const intPart = dot === -1 ? body : body.slice(0, dot);
  const fracPart = dot === -1 ? '' : body.slice(dot + 1);
  const scaled = BigInt(intPart) * SCALE_FACTOR + BigInt(fracPart.padEnd(DECIMAL_SCALE, '0'));
  return negative ? -scaled : scaled;
};

/**
 * Formats a scaled integer as canonical decimal text: no leading zeros, no trailing fractional zeros,
 * no '-0'. `minFractionDigits` pads the fraction (e.g. 2 for display of currency totals).
 */
export const formatDecimal = (scaled: bigint, minFractionDigits = 0): string => {
  const negative = scaled < 0n;
  const abs = negative ? -scaled : scaled;
  const intPart = (abs / SCALE_FACTOR).toString();
  let frac = (abs % SCALE_FACTOR).toString().padStart(DECIMAL_SCALE, '0');
  let end = frac.length;
  while (end > minFractionDigits && frac.charCodeAt(end - 1) === 48) end--; // trailing '0'
  frac = frac.slice(0, end);
  const text = frac.length > 0 ? `${intPart}.${frac}` : intPart;
  return negative && abs !== 0n ? `-${text}` : text;
};

/**
 * The canonical form of a decimal text, for comparisons: `'1.50'` → `'1.5'`, `'-0.00'` → `'0'`,
 * `'007'` → `'7'`. Two amounts are equal exactly when their canonical forms are equal.
 */
export const canonicalAmount = (text: string): string => {
  if (!DECIMAL_TEXT.test(text)) throw new DecimalError(text);
  const negative = text.charCodeAt(0) === 45;
  let start = negative ? 1 : 0;
  let end = text.length;
  const dot = text.indexOf('.');
  if (dot !== -1) {
    while (text.charCodeAt(end - 1) === 48) end--; // trailing fractional zeros
    if (end - 1 === dot) end = dot; // bare '.'
  }
  const intEnd = dot === -1 || dot > end ? end : dot;
  while (start < intEnd - 1 && text.charCodeAt(start) === 48) start++; // leading zeros, keep one
  const body = text.slice(start, end);
  if (body === '0') return '0';
  return negative ? `-${body}` : body;
};

export const addDecimals = (a: string, b: string): string => formatDecimal(parseDecimal(a) + parseDecimal(b));

export const subtractDecimals = (a: string, b: string): string => formatDecimal(parseDecimal(a) - parseDecimal(b));

/** Exact sum of decimal texts; `'0'` for none. */
export const sumDecimals = (values: Iterable<string>): string => {
  let total = 0n;
  for (const v of values) total += parseDecimal(v);
  return formatDecimal(total);
};

/** -1, 0 or 1 as `a` is less than, equal to or greater than `b` (numerically: `'1.50'` equals `'1.5'`). */
export const compareDecimals = (a: string, b: string): -1 | 0 | 1 => {
  const x = parseDecimal(a);
  const y = parseDecimal(b);
  return x < y ? -1 : x > y ? 1 : 0;
};

export const decimalsEqual = (a: string, b: string): boolean => canonicalAmount(a) === canonicalAmount(b);
