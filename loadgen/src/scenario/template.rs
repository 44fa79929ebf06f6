//! Request templates: `{{ ... }}` placeholders in paths and bodies, compiled
//! once when the scenario loads and rendered per request into a reused
//! buffer, so the hot path neither parses nor allocates.
//!
//! Placeholders:
//! - `random(a, b)`: a random integer in `a..=b`;
//! - `choice(x, y, ...)`: one of the listed numbers or quoted strings;
//! - `counter`: a number unique within the run (for unique usernames),
//!   across the shards of a split run too;
//! - `partition(a, b)`: a random integer in this shard's part of `a..=b`
//!   (the range cut into as many runs of consecutive values as there are
//!   shards; the whole range when the run is not split), so that shards
//!   work on keys of their own;
//! - `items(n_min, n_max, id_min, id_max, q_min, q_max)`: a JSON array of
//!   `n_min..=n_max` distinct `{"product_id": .., "quantity": ..}` objects;
//! - a name: the value captured by an earlier step of the same flow.

use std::io::Write;

use super::Shard;

/// A compiled template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Literal(Vec<u8>),
    Random {
        low: i64,
        high: i64,
    },
    Choice(Vec<Vec<u8>>),
    Counter,
    Partition {
        low: i64,
        high: i64,
    },
    Items {
        count: (u64, u64),
        id: (i64, i64),
        quantity: (i64, i64),
    },
    Captured(usize),
}

/// What rendering needs besides the template: randomness, the run-unique
/// counter and the values captured so far in the flow.
pub struct RenderContext<'a> {
    pub rng: &'a mut fastrand::Rng,
    /// Advanced by one per use; callers space counters so they never collide.
    pub counter: &'a mut u64,
    pub counter_stride: u64,
    pub captured: &'a [Vec<u8>],
    /// Which part of a split run this is, for `partition`.
    pub shard: Shard,
}

impl Template {
    /// Compiles `text`; `capture_slot` maps a captured name to its slot, or
    /// `None` if no earlier step captures it.
    pub fn compile(
        text: &str,
        capture_slot: &dyn Fn(&str) -> Option<usize>,
    ) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Literal(rest.as_bytes()[..open].to_vec()));
            }
            let after = &rest[open + 2..];
            let close = after
                .find("}}")
                .ok_or_else(|| format!("`{{{{` without a closing `}}}}` in {text:?}"))?;
            parts.push(compile_expression(after[..close].trim(), capture_slot)?);
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.as_bytes().to_vec()));
        }
        Ok(Template { parts })
    }

    /// The ranges of its `partition(a, b)` placeholders.
    pub fn partitions(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.parts.iter().filter_map(|part| match part {
            Part::Partition { low, high } => Some((*low, *high)),
            _ => None,
        })
    }

    pub fn render(&self, out: &mut Vec<u8>, context: &mut RenderContext<'_>) {
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.extend_from_slice(text),
                Part::Random { low, high } => write_int(out, context.rng.i64(*low..=*high)),
                Part::Choice(options) => {
                    out.extend_from_slice(&options[context.rng.usize(..options.len())])
                }
                Part::Counter => {
                    write_int(out, *context.counter as i64);
                    *context.counter += context.counter_stride;
                }
                Part::Partition { low, high } => {
                    // Scenario::check_shard refused a shard with an empty part.
                    let (low, high) = context.shard.part(*low, *high).unwrap_or((*low, *high));
                    write_int(out, context.rng.i64(low..=high))
                }
                Part::Items {
                    count,
                    id,
                    quantity,
                } => {
                    let n = context.rng.u64(count.0..=count.1) as usize;
                    out.push(b'[');
                    // Distinct ids: draw, and redraw on a repeat (n is small).
                    let mut chosen = [0i64; 64];
                    let mut len = 0;
                    while len < n {
                        let candidate = context.rng.i64(id.0..=id.1);
                        if chosen[..len].contains(&candidate) {
                            continue;
                        }
                        chosen[len] = candidate;
                        if len > 0 {
                            out.push(b',');
                        }
                        out.extend_from_slice(b"{\"product_id\":");
                        write_int(out, candidate);
                        out.extend_from_slice(b",\"quantity\":");
                        write_int(out, context.rng.i64(quantity.0..=quantity.1));
                        out.push(b'}');
                        len += 1;
                    }
                    out.push(b']');
                }
                Part::Captured(slot) => out.extend_from_slice(&context.captured[*slot]),
            }
        }
    }
}

fn write_int(out: &mut Vec<u8>, value: i64) {
    // Writing into a Vec cannot fail; itoa-style formatting without allocation.
    let _ = write!(out, "{value}");
}

fn compile_expression(
    expression: &str,
    capture_slot: &dyn Fn(&str) -> Option<usize>,
) -> Result<Part, String> {
    if expression == "counter" {
        return Ok(Part::Counter);
    }
    let Some((name, arguments)) = expression.split_once('(') else {
        let is_name = !expression.is_empty()
            && expression
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !is_name {
            return Err(format!("`{{{{{expression}}}}}` is not a placeholder"));
        }
        return capture_slot(expression).map(Part::Captured).ok_or_else(|| {
            format!(
                "`{{{{{expression}}}}}` names no value captured by an earlier step of this flow"
            )
        });
    };
    let arguments = arguments
        .trim_end()
        .strip_suffix(')')
        .ok_or_else(|| format!("`{expression}`: missing `)`"))?;
    let arguments: Vec<&str> = arguments
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .collect();
    let int = |text: &str| {
        text.parse::<i64>()
            .map_err(|_| format!("`{expression}`: `{text}` is not an integer"))
    };
    let range = |low: &str, high: &str| -> Result<(i64, i64), String> {
        let (low, high) = (int(low)?, int(high)?);
        if low > high {
            return Err(format!("`{expression}`: {low} is greater than {high}"));
        }
        Ok((low, high))
    };
    match (name.trim(), arguments.as_slice()) {
        ("random", [low, high]) => {
            let (low, high) = range(low, high)?;
            Ok(Part::Random { low, high })
        }
        ("partition", [low, high]) => {
            let (low, high) = range(low, high)?;
            Ok(Part::Partition { low, high })
        }
        ("choice", options) if !options.is_empty() => options
            .iter()
            .map(|option| match option.strip_prefix('"').and_then(|o| o.strip_suffix('"')) {
                Some(text) => Ok(text.as_bytes().to_vec()),
                None => int(option).map(|n| n.to_string().into_bytes()),
            })
            .collect::<Result<_, _>>()
            .map(Part::Choice),
        ("items", [n_min, n_max, id_min, id_max, q_min, q_max]) => {
            let count = range(n_min, n_max)?;
            let id = range(id_min, id_max)?;
            if count.0 < 0 || count.1 > 64 || (count.1 as u64) > (id.1 - id.0 + 1) as u64 {
                return Err(format!(
                    "`{expression}`: the item count must be 0..=64 and at most the number of distinct ids"
                ));
            }
            Ok(Part::Items {
                count: (count.0 as u64, count.1 as u64),
                id,
                quantity: range(q_min, q_max)?,
            })
        }
        (other, _) => Err(format!(
            "`{expression}`: unknown placeholder or wrong arguments for `{other}`; \
             use random(a, b), partition(a, b), choice(x, ...), counter, items(n_min, n_max, id_min, id_max, q_min, q_max) \
             or a captured name"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(template: &Template, captured: &[Vec<u8>], seed: u64) -> String {
        render_shard(template, captured, seed, Shard::WHOLE)
    }

    fn render_shard(template: &Template, captured: &[Vec<u8>], seed: u64, shard: Shard) -> String {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut counter = 7;
        let mut out = Vec::new();
        template.render(
            &mut out,
            &mut RenderContext {
                rng: &mut rng,
                counter: &mut counter,
                counter_stride: 2,
                captured,
                shard,
            },
        );
        String::from_utf8(out).unwrap()
    }

    /// Three shards of `partition(1, 10)` draw from 1-3, 4-6 and 7-10: parts
    /// of consecutive keys that cover the range, each drawn whole.
    #[test]
    fn partitions_give_each_shard_its_own_keys() {
        let t = Template::compile("{{partition(1, 10)}}", &|_| None).unwrap();
        assert_eq!(t.partitions().collect::<Vec<_>>(), [(1, 10)]);
        let drawn = |index| -> std::collections::BTreeSet<i64> {
            let shard = Shard { index, count: 3 };
            (0..200)
                .map(|seed| render_shard(&t, &[], seed, shard).parse().unwrap())
                .collect()
        };
        assert_eq!(drawn(0), (1..=3).collect());
        assert_eq!(drawn(1), (4..=6).collect());
        assert_eq!(drawn(2), (7..=10).collect());
        let whole: std::collections::BTreeSet<i64> = (0..400)
            .map(|seed| render(&t, &[], seed).parse().unwrap())
            .collect();
        assert_eq!(whole, (1..=10).collect());
        // Three keys among four shards: the first shard's part is empty.
        assert_eq!(Shard { index: 0, count: 4 }.part(1, 3), None);
        assert_eq!(Shard { index: 3, count: 4 }.part(1, 3), Some((3, 3)));
    }

    #[test]
    fn renders_every_placeholder() {
        let slot = |name: &str| (name == "order_id").then_some(0);
        let t = Template::compile(
            "/orders/{{order_id}}?n={{ counter }}&x={{random(5, 5)}}&c={{choice(\"a\")}}",
            &slot,
        )
        .unwrap();
        assert_eq!(render(&t, &[b"42".to_vec()], 1), "/orders/42?n=7&x=5&c=a");
        assert_eq!(
            render(&Template::compile("plain", &slot).unwrap(), &[], 1),
            "plain"
        );
    }

    #[test]
    fn items_are_distinct_and_in_range() {
        let t = Template::compile("{{items(5, 5, 1, 5, 1, 3)}}", &|_| None).unwrap();
        for seed in 0..50 {
            let items: serde_json::Value = serde_json::from_str(&render(&t, &[], seed)).unwrap();
            let mut ids: Vec<i64> = items
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["product_id"].as_i64().unwrap())
                .collect();
            ids.sort_unstable();
            assert_eq!(ids, [1, 2, 3, 4, 5]);
            assert!(items
                .as_array()
                .unwrap()
                .iter()
                .all(|i| (1..=3).contains(&i["quantity"].as_i64().unwrap())));
        }
    }

    #[test]
    fn rejects_bad_placeholders() {
        let none = |_: &str| None;
        for bad in [
            "{{random(3, 1)}}",
            "{{random(1)}}",
            "{{unknown_var}}",
            "{{items(1, 9, 1, 5, 1, 1)}}",
            "{{ oops",
            "{{a b}}",
        ] {
            assert!(Template::compile(bad, &none).is_err(), "{bad} accepted");
        }
    }
}
