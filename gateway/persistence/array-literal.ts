/** A value one element of a PostgreSQL array parameter may take. */
export type ArrayElement = string | number | boolean | Date | null | undefined;

const NEEDS_ESCAPE = /["\\]/;

/**
 * The PostgreSQL text literal of a one-dimensional array (`{"a","b",NULL}`), for a parameter
 * cast to an array type (`$1::uuid[]`). The `pg` driver builds the same text element by element,
 * escaping every string with two regular expressions and formatting dates in the local zone; for
 * the thousands of elements of a group commit this costs a tenth of the gateway's CPU. Strings are
 * always quoted (only those holding `"` or `\` are escaped), dates written as ISO 8601 in UTC,
 * `null` and `undefined` as NULL.
 *
 * Most arrays are written by one `JSON.stringify` (native, one flat string, none of the thousands
 * of string pieces a loop leaves to the garbage collector): JSON's text of an array is this
 * literal but for its brackets whenever no string needed an escape (JSON and PostgreSQL escape `"`
 * and `\` alike, but JSON also escapes control characters, which PostgreSQL would not read back)
 * and every number is finite and every date valid (JSON writes those as null). Strings, numbers,
 * `true`/`false`, ISO dates in quotes and `null` all read back as the element types expect.
 */
export function arrayLiteral(values: ReadonlyArray<ArrayElement>): string {
  const json = JSON.stringify(values);
  if (json.indexOf('\\') < 0 && (json.indexOf('null') < 0 || !values.some(unwritableAsJson))) return `{${json.slice(1, -1)}}`;
  return elementByElement(values);
}

/** A number or date JSON would write as null (PostgreSQL reads `NaN` and `Infinity`; an invalid date is an error). */
function unwritableAsJson(v: ArrayElement): boolean {
  return typeof v === 'number' ? !Number.isFinite(v) : v instanceof Date && Number.isNaN(v.getTime());
}

/** `arrayLiteral` one element at a time: for arrays holding strings to escape, non-finite numbers or invalid dates. */
function elementByElement(values: ReadonlyArray<ArrayElement>): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    if (i) out += ',';
    const v = values[i];
    if (v === null || v === undefined) out += 'NULL';
    else if (typeof v === 'string') out += NEEDS_ESCAPE.test(v) ? `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"` : `"${v}"`;
    else if (typeof v === 'number') out += String(v);
    else if (typeof v === 'boolean') out += v ? 't' : 'f';
    else out += `"${v.toISOString()}"`;
  }
  return `${out}}`;
}
