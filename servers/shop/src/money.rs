//! Money: `NUMERIC(12,2)` in the database, [`Decimal`] in Rust, and a JSON
//! string with exactly two decimals in responses. Never a float: a request
//! may write a price as a JSON number, which is judged by its shortest
//! decimal text (see [`Price`]).

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
    pub fn parse(text: &str) -> Option<Money> {
        let (whole, fraction) = text.split_once('.').unwrap_or((text, "0"));
        let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) || !digits(fraction) || fraction.len() > 2 {
            return None;
        }
        // Leading zeros carry no value, and without them an amount that fits
        // the API (under 1e9) always fits a Decimal.
        let whole = whole.trim_start_matches('0');
        let whole = if whole.is_empty() { "0" } else { whole };
        format!("{whole}.{fraction}").parse().ok().map(Money)
    }

    /// Reads a JSON number by its shortest decimal text, which is the number
    /// the client wrote whenever a float can hold it: `19.99` is 19.99, not
    /// the float nearest to it, and trailing zeros (`1.100`) are the same
    /// number. Every stack can judge a number this way, whatever its parser.
    fn from_number(value: f64) -> Option<Money> {
        let value: Decimal = value.to_string().parse().ok()?;
        (value.normalize().scale() <= 2).then(|| Money(value.round_dp(2)))
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

/// A price as a request body writes it: any JSON number or string. Reading
/// the body only checks that it is one of the two; whether it is an amount
/// with at most two decimals is a rule of the contract, checked with the
/// other limits by validation, so that a bad price gets the contract's own
/// message on every stack rather than the words of one JSON parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Price(Option<Money>);

impl Price {
    /// The amount, or `None` for text or a number that is not an amount
    /// with at most two decimals.
    pub fn amount(self) -> Option<Money> {
        self.0
    }

    /// The amount of a price that validation accepted; requests reach the
    /// store only through validation, which refuses every other price.
    pub fn validated(self) -> Money {
        self.0
            .expect("validation refuses a price that is not an amount")
    }
}

impl From<Money> for Price {
    fn from(money: Money) -> Price {
        Price(Some(money))
    }
}

impl<'de> Deserialize<'de> for Price {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Price, D::Error> {
        deserializer.deserialize_any(PriceVisitor)
    }
}

struct PriceVisitor;

impl Visitor<'_> for PriceVisitor {
    type Value = Price;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a price as a number or a string")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Price, E> {
        Ok(Price(Money::parse(text)))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Price, E> {
        Ok(Price(Some(Money(Decimal::from(value)))))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Price, E> {
        Ok(Price(Some(Money(Decimal::from(value)))))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Price, E> {
        Ok(Price(Money::from_number(value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_json(json: &str) -> Option<Money> {
        serde_json::from_str::<Price>(json).unwrap().amount()
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
    fn prices_are_numbers_or_strings_with_at_most_two_decimals() {
        assert_eq!(from_json("19.99"), Money::parse("19.99"));
        assert_eq!(from_json("\"19.99\""), Money::parse("19.99"));
        assert_eq!(from_json("7"), Money::parse("7.00"));
        assert_eq!(from_json("1.10"), Money::parse("1.1"));
        assert_eq!(from_json("1e2"), Money::parse("100"));
        // The float nearest to this text prints as 19.99, so it is 19.99.
        assert_eq!(from_json("19.990000000000000001"), Money::parse("19.99"));
        assert_eq!(from_json("19.999"), None);
        assert_eq!(from_json("\"1.001\""), None);
        assert_eq!(from_json("\"abc\""), None);
        assert!(from_json("-1.5").unwrap().0.is_sign_negative());
        assert_eq!(from_json("1e300"), None);
        for not_a_price in ["true", "null", "[]", "{}", "1e400"] {
            assert!(
                serde_json::from_str::<Price>(not_a_price).is_err(),
                "{not_a_price}"
            );
        }
    }

    #[test]
    fn strings_follow_the_schema_pattern_exactly() {
        assert_eq!(Money::parse("007.50"), Money::parse("7.5"));
        assert_eq!(
            Money::parse(&format!("{}1", "0".repeat(60))),
            Money::parse("1")
        );
        for rejected in [
            " 1", "1 ", "+1", "-1", "1e2", ".5", "5.", "1.100", "1_000", "", "1.2.3",
        ] {
            assert_eq!(Money::parse(rejected), None, "{rejected:?} was accepted");
        }
    }
}
