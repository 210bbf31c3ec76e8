// A ferry validator in JavaScript: rejects rows whose configured column does
// not hold a plausible e-mail address (or phone number), with the reason.
//
// Configuration: {"column": "email", "kind": "email"} (the defaults);
// "kind": "phone" checks phone numbers instead. Nulls are accepted unless
// {"allowNull": false}. Build with ./build.sh.

import * as ferry from "#ferry";

// Deliberately loose: one @, no spaces, a dot in the domain. Real address
// validation needs a round trip to the mail server; this catches typos and
// junk, which is what a migration can act on.
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@.]+$/;
// Digits with the usual separators, optional leading +; 7 to 15 digits (E.164 caps at 15).
const PHONE = /^\+?[0-9 ()./-]+$/;

export function checkEmail(value) {
  if (value.trim() !== value) return "has leading or trailing spaces";
  if (!value.includes("@")) return "has no @";
  if (!EMAIL.test(value)) return "is not of the form name@domain.tld";
  return null;
}

export function checkPhone(value) {
  if (!PHONE.test(value)) return "has characters other than digits, spaces and + ( ) . / -";
  const digits = value.replace(/[^0-9]/g, "").length;
  if (digits < 7 || digits > 15) return `has ${digits} digits, not 7 to 15`;
  return null;
}

class Contact extends ferry.Validator {
  static name = "js-validator";
  static version = "0.1.0";
  static description = "Rejects rows whose e-mail (or phone) column is not plausible.";
  static config = {
    column: { type: "string", default: "email", doc: "the text column to check" },
    kind: { type: "string", default: "email", enum: ["email", "phone"], doc: "what the column holds" },
    allowNull: { type: "boolean", default: true, doc: "whether a null passes" },
  };

  checkSchema(schema, config) {
    // Plan time: fail early, naming the columns there are, when the column is missing.
    schema.require(config.column, ["text"]);
  }

  validate(batch, config) {
    const check = config.kind === "email" ? checkEmail : checkPhone;
    const found = [];
    for (const row of batch) {
      const value = row.get(config.column);
      if (value === null) {
        if (!config.allowNull) found.push(ferry.reject(row, `missing-${config.kind}`, `${config.column} is null`, { column: config.column }));
        continue;
      }
      const why = check(value);
      if (why !== null) {
        found.push(ferry.reject(row, `invalid-${config.kind}`, `${config.column} ${why}: ${JSON.stringify(value)}`, { column: config.column }));
      }
    }
    return found;
  }
}

export const validate = ferry.exportValidator(Contact);
