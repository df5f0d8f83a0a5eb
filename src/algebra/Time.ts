/**
 * Time at the boundaries: every wire and file format in the project writes
 * instants as ISO 8601 strings (UTC, as `Date.prototype.toISOString` gives).
 *
 * Law: `DateFromISOString.decode(DateFromISOString.encode(d))` is `d` (to the millisecond).
 */
import * as t from "io-ts";

export const DateFromISOString = new t.Type<Date, string, unknown>(
  "DateFromISOString",
  (u): u is Date => u instanceof Date && !Number.isNaN(u.getTime()),
  (u, c) => {
    if (typeof u !== "string") return t.failure(u, c, "expected an ISO 8601 date string");
    const d = new Date(u);
    return Number.isNaN(d.getTime()) ? t.failure(u, c, `invalid date ${JSON.stringify(u)}`) : t.success(d);
  },
  (d) => d.toISOString(),
);
