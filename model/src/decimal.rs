//! Decimal text, the one rule every layer reads it by: an optional sign,
//! digits with at most one point (at least one digit), an optional
//! exponent. Parsing is strict — anything else is not a decimal, and the
//! caller quarantines the value rather than guessing.
//!
//! What the endpoints need of a decimal — whether PostgreSQL's `numeric`
//! takes it, whether it fits `numeric(p,s)` / `DECIMAL(p,s)` exactly, its
//! plain digits, its canonical form for checksums — is computed here from
//! one parse.

/// Exponent digits PostgreSQL's `numeric` can hold: its range ends near
/// 1e131072, so an exponent of more than 4 digits is out of range anyway.
pub const MAX_EXPONENT_DIGITS: usize = 4;

/// A decimal number's text, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decimal<'a> {
    pub negative: bool,
    /// Digits before the point (may be empty: `.5`).
    pub int: &'a str,
    /// Digits after the point (may be empty: `5.`).
    pub frac: &'a str,
    /// The exponent (`e`/`E`), 0 without one.
    pub exp: i64,
    /// How many digits the exponent was written with.
    pub exp_digits: usize,
}

impl<'a> Decimal<'a> {
    /// Parses `s` strictly (no spaces); `None` when it is not a decimal.
    pub fn parse(s: &'a str) -> Option<Decimal<'a>> {
        let (negative, body) = match s.as_bytes().first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        let (mantissa, exp, exp_digits) = match body.find(['e', 'E']) {
            Some(i) => {
                let e = &body[i + 1..];
                let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                (&body[..i], e.parse::<i64>().ok()?, digits.len())
            }
            None => (body, 0, 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
        if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) {
            return None;
        }
        Some(Decimal {
            negative,
            int,
            frac,
            exp,
            exp_digits,
        })
    }

    /// Whether `s` is a number PostgreSQL's `numeric` accepts exactly (and
    /// so one ferry holds as a decimal).
    pub fn is_numeric(s: &str) -> bool {
        Decimal::parse(s).is_some_and(|d| d.exp_digits <= MAX_EXPONENT_DIGITS)
    }

    /// Whether `s` is a plain decimal, without exponent (`-12.50`, `7`, `.5`).
    pub fn is_plain(s: &str) -> bool {
        Decimal::parse(s).is_some_and(|d| d.exp_digits == 0)
    }

    /// Every digit, in order (integer part, then fraction).
    pub fn digits(&self) -> String {
        format!("{}{}", self.int, self.frac)
    }

    /// Where the point falls among [`Decimal::digits`], after the exponent.
    pub fn point(&self) -> i64 {
        (self.int.len() as i64).saturating_add(self.exp)
    }

    /// Whether the value is zero.
    pub fn is_zero(&self) -> bool {
        self.int.bytes().chain(self.frac.bytes()).all(|b| b == b'0')
    }

    /// (negative, significant digits, exponent of the first digit): equal
    /// numbers written differently give the same key; zero is
    /// `(false, "", 0)`.
    pub fn key(&self) -> (bool, String, i64) {
        let digits = self.digits();
        let Some(first) = digits.find(|c| c != '0') else {
            return (false, String::new(), 0);
        };
        let sig = digits[first..].trim_end_matches('0').to_string();
        (
            self.negative,
            sig,
            self.point().saturating_sub(first as i64),
        )
    }

    /// The canonical text: no insignificant zeros, no exponent, `-` only
    /// when not zero (`+001.500e1` → `15`; `-0.0` → `0`).
    pub fn canonical(&self) -> String {
        let digits = self.digits();
        let lead = digits.len() - digits.trim_start_matches('0').len();
        let point = self.point() - lead as i64;
        let digits = digits[lead..].trim_end_matches('0');
        if digits.is_empty() {
            return "0".into();
        }
        let n = digits.len() as i64;
        let body = if point <= 0 {
            format!("0.{}{}", "0".repeat(point.unsigned_abs() as usize), digits)
        } else if point >= n {
            format!("{}{}", digits, "0".repeat((point - n) as usize))
        } else {
            format!(
                "{}.{}",
                &digits[..point as usize],
                &digits[point as usize..]
            )
        };
        if self.negative {
            format!("-{body}")
        } else {
            body
        }
    }

    /// The plain digits: (negative, integer digits without leading zeros,
    /// fraction digits without trailing zeros), the exponent applied;
    /// `None` when the exponent moves the point more than `max_shift`
    /// places (the padding would be unbounded for a value no column holds).
    pub fn plain(&self, max_shift: u64) -> Option<(bool, String, String)> {
        if self.exp.unsigned_abs() > max_shift {
            return None;
        }
        let digits = self.digits();
        let point = self.point();
        let (int_part, frac_part) = if point <= 0 {
            (
                String::new(),
                format!("{}{digits}", "0".repeat(point.unsigned_abs() as usize)),
            )
        } else if point as usize >= digits.len() {
            (
                format!("{digits}{}", "0".repeat(point as usize - digits.len())),
                String::new(),
            )
        } else {
            (
                digits[..point as usize].to_string(),
                digits[point as usize..].to_string(),
            )
        };
        let int_part = int_part.trim_start_matches('0').to_string();
        let frac_part = frac_part.trim_end_matches('0').to_string();
        let zero = int_part.is_empty() && frac_part.is_empty();
        Some((self.negative && !zero, int_part, frac_part))
    }

    /// Whether the value fits `numeric(p, s)` / `DECIMAL(p, s)` without
    /// rounding: at most `p - s` digits before the point and `s`
    /// significant digits after it.
    pub fn fits(&self, precision: u32, scale: u32) -> bool {
        let digits = self.digits();
        let b = digits.as_bytes();
        let Some(first) = b.iter().position(|&d| d != b'0') else {
            return true; // zero fits any numeric
        };
        let last = b.iter().rposition(|&d| d != b'0').unwrap_or(first) as i64;
        let point = self.point();
        let int_digits = point.saturating_sub(first as i64).max(0);
        let frac_digits = (last + 1).saturating_sub(point).max(0);
        int_digits <= i64::from(precision.saturating_sub(scale)) && frac_digits <= i64::from(scale)
    }
}

#[cfg(test)]
mod tests {
    use super::Decimal;

    #[test]
    fn parsing_is_strict() {
        for ok in ["0", "-1.5", "+.5", "5.", "1e3", "1E-3", "-0.0", "007"] {
            assert!(Decimal::parse(ok).is_some(), "{ok}");
        }
        for bad in [
            "", ".", "-", "1e", "1e+", "1.2.3", " 1", "1 ", "0x10", "1,5", "NaN", "1e5x",
        ] {
            assert!(Decimal::parse(bad).is_none(), "{bad:?}");
        }
        assert!(Decimal::is_numeric("1e9999"));
        assert!(!Decimal::is_numeric("1e99999"));
        assert!(Decimal::is_plain("-12.50") && !Decimal::is_plain("1e2"));
    }

    #[test]
    fn one_parse_answers_every_question() {
        let d = Decimal::parse("+001.500e1").unwrap();
        assert_eq!(d.canonical(), "15");
        assert_eq!(d.key(), (false, "15".into(), 2));
        assert_eq!(d.plain(200), Some((false, "15".into(), String::new())));
        assert!(d.fits(2, 0) && !d.fits(1, 0));
        let z = Decimal::parse("-0.000").unwrap();
        assert_eq!(z.canonical(), "0");
        assert_eq!(z.key(), (false, String::new(), 0));
        assert_eq!(z.plain(200), Some((false, String::new(), String::new())));
        let small = Decimal::parse("-1.25e-3").unwrap();
        assert_eq!(small.canonical(), "-0.00125");
        assert!(small.fits(10, 5) && !small.fits(10, 4));
        assert_eq!(Decimal::parse("1e300").unwrap().plain(200), None);
    }
}
