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
    /// Parses `"19.99"` or `"20"`; more than two decimals is an error.
    pub fn parse(text: &str) -> Result<Money, String> {
        let value: Decimal = text
            .trim()
            .parse()
            .map_err(|_| format!("`{text}` is not a decimal number"))?;
        if value.scale() > 2 && value.normalize().scale() > 2 {
            return Err(format!("`{text}` has more than two decimals"));
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
        // Rust prints the shortest text that reads back as the same f64, so
        // 19.99 becomes "19.99", the number the client wrote.
        if !value.is_finite() {
            return Err(E::custom("amount must be a finite number"));
        }
        Money::parse(&value.to_string()).map_err(E::custom)
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
        assert!(from_json("true").is_err());
    }
}
