//! Money: `NUMERIC(12,2)` in the database, [`Decimal`] in Rust, and a JSON
//! string with exactly two decimals on the wire. Never a float.

use std::fmt;

use rust_decimal::Decimal;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// An amount of money with at most two decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(pub Decimal);

impl Money {
    /// Parses an amount as a request writes it in a string: digits, then
    /// optionally a point and one or two digits (`"19.99"`, `"20"`). Nothing
    /// else (sign, exponent, spaces, a third decimal), so that the schema's
    /// pattern and the server agree on every string.
    pub fn parse(text: &str) -> Result<Money, String> {
        let (whole, fraction) = text.split_once('.').unwrap_or((text, "0"));
        let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) || !digits(fraction) {
            return Err(format!(
                "`{text}` is not an amount: write digits with at most two decimals, like \"19.99\""
            ));
        }
        if fraction.len() > 2 {
            return Err(format!("`{text}` has more than two decimals"));
        }
        // Leading zeros carry no value, and without them an amount that fits
        // the API (under 1e9) always fits a Decimal.
        let whole = whole.trim_start_matches('0');
        let value: Decimal = format!("{}.{fraction}", if whole.is_empty() { "0" } else { whole })
            .parse()
            .map_err(|_| format!("`{text}` is too large an amount"))?;
        Ok(Money(value))
    }

    /// Reads a JSON number by its shortest decimal text, which is the number
    /// the client wrote: `19.99` is 19.99, not the float nearest to it, and
    /// trailing zeros (`1.100`) are the same number.
    fn from_number(value: f64) -> Result<Money, String> {
        if !value.is_finite() {
            return Err("amount must be a finite number".into());
        }
        let value: Decimal = value
            .to_string()
            .parse()
            .map_err(|_| format!("`{value}` is too large an amount"))?;
        if value.normalize().scale() > 2 {
            return Err(format!("`{value}` has more than two decimals"));
        }
        Ok(Money(value.round_dp(2)))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut value = self.0.round_dp(2);
        value.rescale(2);
        write!(f, "{value}")
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Money, D::Error> {
        deserializer.deserialize_any(MoneyVisitor)
    }
}

struct MoneyVisitor;

impl Visitor<'_> for MoneyVisitor {
    type Value = Money;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an amount as a number or a string with at most two decimals")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Money, E> {
        Money::parse(text).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Money, E> {
        Ok(Money(Decimal::from(value)))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Money, E> {
        Ok(Money(Decimal::from(value)))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Money, E> {
        Money::from_number(value).map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_json(json: &str) -> Result<Money, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn serializes_with_exactly_two_decimals() {
        for (input, expected) in [
            ("19.99", "\"19.99\""),
            ("20", "\"20.00\""),
            ("0.5", "\"0.50\""),
        ] {
            let money = Money::parse(input).unwrap();
            assert_eq!(serde_json::to_string(&money).unwrap(), expected);
        }
    }

    #[test]
    fn accepts_numbers_and_strings_with_at_most_two_decimals() {
        assert_eq!(from_json("19.99").unwrap(), Money::parse("19.99").unwrap());
        assert_eq!(
            from_json("\"19.99\"").unwrap(),
            Money::parse("19.99").unwrap()
        );
        assert_eq!(from_json("7").unwrap(), Money::parse("7.00").unwrap());
        assert_eq!(from_json("1.10").unwrap(), Money::parse("1.1").unwrap());
        assert!(from_json("19.999").is_err());
        assert!(from_json("\"1.001\"").is_err());
        assert!(from_json("\"abc\"").is_err());
        assert!(from_json("-1.5").unwrap().0.is_sign_negative());
        assert!(from_json("1e300").is_err());
    }

    #[test]
    fn strings_follow_the_schema_pattern_exactly() {
        assert_eq!(
            Money::parse("007.50").unwrap(),
            Money::parse("7.5").unwrap()
        );
        assert_eq!(
            Money::parse(&format!("{}1", "0".repeat(60))).unwrap(),
            Money::parse("1").unwrap()
        );
        for rejected in [
            " 1", "1 ", "+1", "-1", "1e2", ".5", "5.", "1.100", "1_000", "", "1.2.3",
        ] {
            assert!(Money::parse(rejected).is_err(), "{rejected:?} was accepted");
        }
        assert!(from_json("true").is_err());
    }
}
