//! Templates: text with `{placeholders}`, filled from the recipient's attributes and a trigger
//! event's fields. A placeholder names a value by a dotted path (`{first_name}`,
//! `{event.price}`); `{{` and `}}` write a literal brace. Rendering never leaves a blank: every
//! placeholder without a value (absent, `null` or an empty string) is reported, all of them at
//! once.

use std::fmt::Write;

use serde_json::{Map, Value};

use super::segment::lookup;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Field(String),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

/// A template that cannot be parsed, and where (a character offset).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at character {at}: {message}")]
pub struct TemplateError {
    pub at: usize,
    pub message: String,
}

/// Placeholders that had no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no value for {}", missing.iter().map(|m| format!("{{{m}}}")).collect::<Vec<_>>().join(", "))]
pub struct RenderError {
    pub missing: Vec<String>,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name.split('.').all(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        })
}

impl Template {
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.char_indices().peekable();
        let offset = |byte: usize| text[..byte].chars().count();
        while let Some((i, c)) = chars.next() {
            match c {
                '{' if chars.peek().is_some_and(|&(_, n)| n == '{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek().is_some_and(|&(_, n)| n == '}') => {
                    chars.next();
                    literal.push('}');
                }
                '}' => {
                    return Err(TemplateError {
                        at: offset(i),
                        message: "a lone '}' (write '}}' for a brace)".into(),
                    });
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some((_, '}')) => break,
                            Some((_, c)) => name.push(c),
                            None => {
                                return Err(TemplateError {
                                    at: offset(i),
                                    message: "a '{' is never closed (write '{{' for a brace)"
                                        .into(),
                                });
                            }
                        }
                    }
                    let name = name.trim();
                    if !valid_name(name) {
                        return Err(TemplateError {
                            at: offset(i),
                            message: format!(
                                "{{{name}}} is not a placeholder name (letters, digits, '_' and '-', parts joined by '.')"
                            ),
                        });
                    }
                    if !literal.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Field(name.to_owned()));
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Self { parts })
    }

    /// The placeholders, in order of first appearance.
    pub fn placeholders(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for p in &self.parts {
            if let Part::Field(name) = p
                && !out.contains(&name.as_str())
            {
                out.push(name);
            }
        }
        out
    }

    /// Fills the placeholders from `values` (looked up by dotted path).
    pub fn render(&self, values: &Map<String, Value>) -> Result<String, RenderError> {
        let mut out = String::new();
        let mut missing: Vec<String> = Vec::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Field(name) => match lookup(values, name) {
                    Some(Value::String(s)) if !s.is_empty() => out.push_str(s),
                    Some(Value::Number(n)) => {
                        let _ = write!(out, "{n}");
                    }
                    Some(Value::Bool(b)) => {
                        let _ = write!(out, "{b}");
                    }
                    _ => {
                        if !missing.contains(name) {
                            missing.push(name.clone());
                        }
                    }
                },
            }
        }
        if missing.is_empty() {
            Ok(out)
        } else {
            Err(RenderError { missing })
        }
    }
}

/// A language tag: 2–3 letters, then `-` and 2–8 letters or digits, up to 35 characters.
pub fn valid_locale(l: &str) -> bool {
    let mut parts = l.split('-');
    l.len() <= 35
        && parts.next().is_some_and(|p| {
            (2..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphabetic())
        })
        && parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Text as TwiML that reads it out: `<Response><Say>…</Say></Response>`, XML-escaped.
pub fn twiml_say(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            // Characters XML 1.0 cannot carry are dropped.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => escaped.push(c),
        }
    }
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say>{escaped}</Say></Response>")
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn values(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn placeholders_are_filled_from_nested_values() {
        let t = Template::parse(
            "Hi {first_name}, your {event.product} is now {event.price} € {{sale}}",
        )
        .unwrap();
        assert_eq!(
            t.placeholders(),
            ["first_name", "event.product", "event.price"]
        );
        let out = t
            .render(&values(
                json!({"first_name": "Ada", "event": {"product": "kettle", "price": 19.5}}),
            ))
            .unwrap();
        assert_eq!(out, "Hi Ada, your kettle is now 19.5 € {sale}");
    }

    #[test]
    fn every_missing_placeholder_is_reported_never_a_blank() {
        let t = Template::parse("{a} {b} {a} {c}").unwrap();
        let e = t.render(&values(json!({"b": "", "c": null}))).unwrap_err();
        assert_eq!(e.missing, ["a", "b", "c"]);
        assert_eq!(e.to_string(), "no value for {a}, {b}, {c}");
    }

    #[test]
    fn malformed_templates_say_where() {
        assert_eq!(Template::parse("Hi {name").unwrap_err().at, 3);
        assert_eq!(Template::parse("a } b").unwrap_err().at, 2);
        assert!(Template::parse("{}").is_err());
        assert!(Template::parse("{first name}").is_err());
        assert!(Template::parse("{a..b}").is_err());
        assert_eq!(
            Template::parse("{ name }").unwrap().placeholders(),
            ["name"]
        );
    }

    #[test]
    fn twiml_is_escaped() {
        assert_eq!(
            twiml_say("Tom & <Jerry> \"hi\"\u{1}"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say>Tom &amp; &lt;Jerry&gt; &quot;hi&quot;</Say></Response>"
        );
    }

    proptest! {
        /// Text without braces renders to itself; escaped braces render to one brace.
        #[test]
        fn literal_text_survives(text in "[^{}]{0,40}") {
            let t = Template::parse(&text).unwrap();
            prop_assert_eq!(t.render(&Map::new()).unwrap(), text.clone());
            let doubled = format!("{{{{{text}}}}}");
            prop_assert_eq!(Template::parse(&doubled).unwrap().render(&Map::new()).unwrap(), format!("{{{text}}}"));
        }

        /// With a value for every placeholder, rendering succeeds and holds every value.
        #[test]
        fn full_values_always_render(names in proptest::collection::vec("[a-z_][a-z0-9_]{0,8}", 1..5), value in "[a-zA-Z0-9 ]{1,10}") {
            let text = names.iter().map(|n| format!("<{{{n}}}>")).collect::<String>();
            let t = Template::parse(&text).unwrap();
            let map: Map<String, Value> = names.iter().map(|n| (n.clone(), Value::String(value.clone()))).collect();
            let out = t.render(&map).unwrap();
            prop_assert_eq!(out, names.iter().map(|_| format!("<{value}>")).collect::<String>());
        }
    }
}
