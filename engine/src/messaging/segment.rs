//! Segments: a small JSON rule language over a recipient's attributes, topic subscriptions and
//! consent. A rule is one JSON object with exactly one key:
//!
//! | rule | true when |
//! |---|---|
//! | `{"all": [r, …]}` | every rule holds (an empty list holds) |
//! | `{"any": [r, …]}` | some rule holds (an empty list does not) |
//! | `{"not": r}` | the rule does not hold |
//! | `{"eq": {"attr": "city", "value": "Berlin"}}` | the attribute equals the value (numbers by value: `1` equals `1.0`) |
//! | `{"in": {"attr": "tier", "values": ["gold", "silver"]}}` | the attribute equals one of the values |
//! | `{"exists": {"attr": "email"}}` | the attribute is present and not `null` |
//! | `{"range": {"attr": "age", "gte": 18, "lt": 65}}` | every bound given holds: numbers against numbers, strings (ISO dates) against strings; at least one of `gt`, `gte`, `lt`, `lte` |
//! | `{"subscribed": "price-alerts"}` | the recipient is subscribed to the topic |
//! | `{"consent": "opted_in"}` | the recipient's consent is `opted_in`, `opted_out` or `unknown` |
//!
//! An attribute is named by a dotted path into nested objects (`address.city`). A rule is
//! parsed once ([`Rule::parse`]), which names the place of any mistake (`all[1].range`), and
//! refuses rules deeper than [`MAX_DEPTH`] or larger than [`MAX_NODES`].

use std::cmp::Ordering;

use serde_json::{Map, Value};

use super::{Consent, NAME_RULE, valid_name};

/// Rules nest at most this deep.
pub const MAX_DEPTH: usize = 16;
/// A rule has at most this many parts.
pub const MAX_NODES: usize = 1_000;

#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    All(Vec<Rule>),
    Any(Vec<Rule>),
    Not(Box<Rule>),
    Eq {
        attr: String,
        value: Value,
    },
    In {
        attr: String,
        values: Vec<Value>,
    },
    Exists {
        attr: String,
    },
    Range {
        attr: String,
        bounds: Vec<(Bound, Value)>,
    },
    Subscribed(String),
    Consent(Consent),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    Gt,
    Gte,
    Lt,
    Lte,
}

impl Bound {
    const ALL: [(&'static str, Bound); 4] = [
        ("gt", Self::Gt),
        ("gte", Self::Gte),
        ("lt", Self::Lt),
        ("lte", Self::Lte),
    ];

    fn holds(self, ord: Ordering) -> bool {
        match self {
            Self::Gt => ord == Ordering::Greater,
            Self::Gte => ord != Ordering::Less,
            Self::Lt => ord == Ordering::Less,
            Self::Lte => ord != Ordering::Greater,
        }
    }
}

/// A mistake in a rule, and where: `at` is a path like `all[1].range`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {message}")]
pub struct RuleError {
    pub at: String,
    pub message: String,
}

/// What a rule is evaluated against.
pub trait Subject {
    fn attributes(&self) -> &Map<String, Value>;
    fn subscribed(&self, topic: &str) -> bool;
    fn consent(&self) -> Consent;
}

impl Rule {
    /// Reads a rule from JSON, naming the place of the first mistake.
    pub fn parse(json: &Value) -> Result<Self, RuleError> {
        let mut nodes = 0;
        parse(json, "rule", 0, &mut nodes)
    }

    pub fn matches(&self, s: &dyn Subject) -> bool {
        match self {
            Self::All(rules) => rules.iter().all(|r| r.matches(s)),
            Self::Any(rules) => rules.iter().any(|r| r.matches(s)),
            Self::Not(rule) => !rule.matches(s),
            Self::Eq { attr, value } => {
                lookup(s.attributes(), attr).is_some_and(|v| same(v, value))
            }
            Self::In { attr, values } => {
                lookup(s.attributes(), attr).is_some_and(|v| values.iter().any(|x| same(v, x)))
            }
            Self::Exists { attr } => lookup(s.attributes(), attr).is_some_and(|v| !v.is_null()),
            Self::Range { attr, bounds } => lookup(s.attributes(), attr).is_some_and(|v| {
                bounds
                    .iter()
                    .all(|(b, limit)| compare(v, limit).is_some_and(|o| b.holds(o)))
            }),
            Self::Subscribed(topic) => s.subscribed(topic),
            Self::Consent(c) => s.consent() == *c,
        }
    }

    /// The topics the rule mentions (for reading only the subscriptions that matter).
    pub fn topics(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.visit(&mut |r| {
            if let Self::Subscribed(t) = r {
                out.push(t.as_str());
            }
        });
        out
    }

    fn visit<'a>(&'a self, f: &mut impl FnMut(&'a Rule)) {
        f(self);
        match self {
            Self::All(rules) | Self::Any(rules) => rules.iter().for_each(|r| r.visit(f)),
            Self::Not(rule) => rule.visit(f),
            _ => {}
        }
    }
}

/// The value at a dotted path in nested objects.
pub fn lookup<'a>(attributes: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut value = attributes.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

/// JSON equality, with numbers compared by value.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// Numbers against numbers, strings against strings; anything else does not compare.
fn compare(v: &Value, limit: &Value) -> Option<Ordering> {
    match (v, limit) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn err(at: &str, message: impl Into<String>) -> RuleError {
    RuleError {
        at: at.to_owned(),
        message: message.into(),
    }
}

fn parse(json: &Value, at: &str, depth: usize, nodes: &mut usize) -> Result<Rule, RuleError> {
    *nodes += 1;
    if *nodes > MAX_NODES {
        return Err(err(at, format!("a rule has at most {MAX_NODES} parts")));
    }
    if depth > MAX_DEPTH {
        return Err(err(at, format!("rules nest at most {MAX_DEPTH} deep")));
    }
    let Some(object) = json.as_object() else {
        return Err(err(
            at,
            "must be an object with one key: all, any, not, eq, in, exists, range, subscribed or consent",
        ));
    };
    let mut entries = object.iter();
    let (Some((key, body)), None) = (entries.next(), entries.next()) else {
        return Err(err(at, "must have exactly one key"));
    };
    let here = format!("{at}.{key}");
    let list = |nodes: &mut usize| -> Result<Vec<Rule>, RuleError> {
        let items = body
            .as_array()
            .ok_or_else(|| err(&here, "must be a list of rules"))?;
        items
            .iter()
            .enumerate()
            .map(|(i, r)| parse(r, &format!("{here}[{i}]"), depth + 1, nodes))
            .collect()
    };
    Ok(match key.as_str() {
        "all" => Rule::All(list(nodes)?),
        "any" => Rule::Any(list(nodes)?),
        "not" => Rule::Not(Box::new(parse(body, &here, depth + 1, nodes)?)),
        "eq" => {
            let o = operand(body, &here, &["attr", "value"])?;
            Rule::Eq {
                attr: attr(o, &here)?,
                value: o
                    .get("value")
                    .cloned()
                    .ok_or_else(|| err(&here, "needs a value"))?,
            }
        }
        "in" => {
            let o = operand(body, &here, &["attr", "values"])?;
            let values = o
                .get("values")
                .and_then(Value::as_array)
                .ok_or_else(|| err(&here, "needs values: a list"))?;
            Rule::In {
                attr: attr(o, &here)?,
                values: values.clone(),
            }
        }
        "exists" => Rule::Exists {
            attr: attr(operand(body, &here, &["attr"])?, &here)?,
        },
        "range" => {
            let o = operand(body, &here, &["attr", "gt", "gte", "lt", "lte"])?;
            let mut bounds = Vec::new();
            for (name, bound) in Bound::ALL {
                match o.get(name) {
                    None => {}
                    Some(v @ (Value::Number(_) | Value::String(_))) => {
                        bounds.push((bound, v.clone()))
                    }
                    Some(_) => {
                        return Err(err(
                            &format!("{here}.{name}"),
                            "must be a number or a string",
                        ));
                    }
                }
            }
            if bounds.is_empty() {
                return Err(err(&here, "needs at least one of gt, gte, lt, lte"));
            }
            Rule::Range {
                attr: attr(o, &here)?,
                bounds,
            }
        }
        "subscribed" => Rule::Subscribed(
            body.as_str()
                .filter(|t| valid_name(t))
                .ok_or_else(|| {
                    err(
                        &here,
                        format!(
                            "must be a topic name: it {}",
                            NAME_RULE.trim_start_matches("must ")
                        ),
                    )
                })?
                .to_owned(),
        ),
        "consent" => Rule::Consent(
            body.as_str()
                .and_then(Consent::parse)
                .ok_or_else(|| err(&here, "must be opted_in, opted_out or unknown"))?,
        ),
        other => {
            return Err(err(
                at,
                format!(
                    "unknown rule {other:?}: all, any, not, eq, in, exists, range, subscribed or consent"
                ),
            ));
        }
    })
}

fn operand<'a>(
    body: &'a Value,
    at: &str,
    allowed: &[&str],
) -> Result<&'a Map<String, Value>, RuleError> {
    let o = body
        .as_object()
        .ok_or_else(|| err(at, format!("must be an object with {}", allowed.join(", "))))?;
    if let Some(extra) = o.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(err(
            at,
            format!("unknown field {extra:?} (allowed: {})", allowed.join(", ")),
        ));
    }
    Ok(o)
}

fn attr(o: &Map<String, Value>, at: &str) -> Result<String, RuleError> {
    o.get("attr")
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty() && a.len() <= 200 && a.split('.').all(|p| !p.is_empty()))
        .map(str::to_owned)
        .ok_or_else(|| {
            err(
                &format!("{at}.attr"),
                "must be an attribute name (a dotted path like address.city)",
            )
        })
}

#[cfg(test)]
mod tests;
