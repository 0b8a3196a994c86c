/**
 * CSV as RFC 4180 writes it (CRLF between records; a field holding a comma, a double quote, CR or LF is quoted and
 * its double quotes doubled), made safe to open in a spreadsheet: a cell starting with =, +, -, @, tab or CR would be
 * read as a formula (CSV injection), so it is prefixed with a single quote, as OWASP recommends. Written by hand:
 * a dozen lines, where a library would need to be streamed around the database cursor anyway.
 */
const FORMULA_START = /^[=+\-@\t\r]/;
const NEEDS_QUOTES = /[",\r\n]/;

export function csvCell(value: string): string {
  const safe = FORMULA_START.test(value) ? `'${value}` : value;
  return NEEDS_QUOTES.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function csvRecord(cells: readonly string[]): string {
  return `${cells.map(csvCell).join(',')}\r\n`;
}
