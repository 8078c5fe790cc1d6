//! Trigger events: JSON lines, each an event (a price alert, a delivery update) that says who
//! receives it and what they are sent:
//!
//! ```json
//! {"id": "alert-17", "segment": "gold-alerts", "template": "price-drop", "locale": "en",
//!  "fields": {"product": "a kettle", "price": 19.5}}
//! {"rule": {"subscribed": "price-alerts"}, "template": "price-drop", "fields": {"product": "a kettle"}}
//! ```
//!
//! Exactly one of `segment` (a saved segment's name) and `rule` (a rule written in place);
//! `template` names a template of the campaign's channel, in `locale` (default `en`); `fields`
//! are read by the template as `{event.…}`; `id` (optional) names the event in reports. A line
//! that cannot be read is reported with its line number and does not stop the lines after it;
//! blank lines are skipped.

use serde_json::{Map, Value};

use super::segment::Rule;
use super::template::valid_locale;
use super::valid_name;

/// The longest line read, in bytes.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Who an event is for.
#[derive(Debug, Clone, PartialEq)]
pub enum Audience {
    /// A saved segment, by name.
    Segment(String),
    /// A rule written in the event.
    Rule(Rule),
}

#[derive(Debug, Clone, PartialEq)]
pub struct TriggerEvent {
    /// Its line in the input, from 1.
    pub line: u64,
    pub id: Option<String>,
    pub audience: Audience,
    pub template: String,
    pub locale: String,
    pub fields: Map<String, Value>,
}

/// A line that could not be read, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct LineError {
    pub line: u64,
    pub message: String,
}

const FIELDS: [&str; 6] = ["id", "segment", "rule", "template", "locale", "fields"];

/// Reads one line; `Ok(None)` for a blank one.
pub fn parse_line(line: u64, text: &str) -> Result<Option<TriggerEvent>, LineError> {
    let err = |message: String| LineError { line, message };
    let text = text.trim_end_matches(['\r', '\n']);
    if text.trim().is_empty() {
        return Ok(None);
    }
    if text.len() > MAX_LINE_BYTES {
        return Err(err(format!("longer than {MAX_LINE_BYTES} bytes")));
    }
    let value: Value = serde_json::from_str(text).map_err(|e| err(format!("not JSON: {e}")))?;
    let Value::Object(mut o) = value else {
        return Err(err("must be a JSON object".into()));
    };
    if let Some(extra) = o.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(err(format!(
            "unknown field {extra:?} (allowed: {})",
            FIELDS.join(", ")
        )));
    }
    let text_field =
        |o: &mut Map<String, Value>, name: &str| -> Result<Option<String>, LineError> {
            match o.remove(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(_) => Err(err(format!("{name}: must be a string"))),
            }
        };
    let id = text_field(&mut o, "id")?;
    let segment = text_field(&mut o, "segment")?;
    let audience = match (segment, o.remove("rule")) {
        (Some(name), None) if valid_name(&name) => Audience::Segment(name),
        (Some(name), None) => {
            return Err(err(format!("segment: {name:?} is not a segment name")));
        }
        (None, Some(rule)) => Audience::Rule(Rule::parse(&rule).map_err(|e| err(e.to_string()))?),
        (Some(_), Some(_)) => return Err(err("give segment or rule, not both".into())),
        (None, None) => return Err(err("needs a segment (a name) or a rule".into())),
    };
    let template = text_field(&mut o, "template")?
        .filter(|t| valid_name(t))
        .ok_or_else(|| err("template: needs a template name".into()))?;
    let locale = text_field(&mut o, "locale")?.unwrap_or_else(|| "en".into());
    if !valid_locale(&locale) {
        return Err(err(format!("locale: {locale:?} is not a language tag")));
    }
    let fields = match o.remove("fields") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(f)) => f,
        Some(_) => return Err(err("fields: must be an object".into())),
    };
    Ok(Some(TriggerEvent {
        line,
        id,
        audience,
        template,
        locale,
        fields,
    }))
}

/// Reads every line: the events, and the lines that could not be read.
pub fn parse_lines(text: &str) -> (Vec<TriggerEvent>, Vec<LineError>) {
    let mut events = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        match parse_line(i as u64 + 1, line) {
            Ok(Some(e)) => events.push(e),
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
    }
    (events, errors)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_bad_line_is_reported_and_the_rest_is_read() {
        let input = "{\"id\": \"a\", \"segment\": \"gold\", \"template\": \"price-drop\", \"fields\": {\"price\": 9}}\r\n\
                     \n\
                     {not json}\n\
                     {\"rule\": {\"subscribed\": \"news\"}, \"template\": \"digest\", \"locale\": \"de\"}\n\
                     {\"segment\": \"gold\", \"rule\": {\"all\": []}, \"template\": \"x\"}\n\
                     [1]\n\
                     {\"rule\": {\"range\": {\"attr\": \"age\"}}, \"template\": \"x\"}\n\
                     {\"segment\": \"gold\"}\n\
                     {\"segment\": \"gold\", \"template\": \"x\", \"fields\": 3}\n\
                     {\"segment\": \"gold\", \"template\": \"x\", \"when\": 1}\n\
                     {\"segment\": \"gold\", \"template\": \"x\", \"locale\": \"english\"}\n";
        let (events, errors) = parse_lines(input);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].line, 1);
        assert_eq!(events[0].id.as_deref(), Some("a"));
        assert_eq!(events[0].audience, Audience::Segment("gold".into()));
        assert_eq!(events[0].locale, "en");
        assert_eq!(
            events[0].fields,
            json!({"price": 9}).as_object().cloned().unwrap()
        );
        assert_eq!(events[1].line, 4);
        assert_eq!(
            events[1].audience,
            Audience::Rule(Rule::Subscribed("news".into()))
        );
        assert_eq!(events[1].locale, "de");
        let lines: Vec<u64> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [3, 5, 6, 7, 8, 9, 10, 11]);
        assert!(errors[3].message.contains("rule.range"), "{}", errors[3]);
        assert!(errors[4].message.contains("template"), "{}", errors[4]);
        assert_eq!(errors[0].to_string().split(':').next(), Some("line 3"));
    }

    #[test]
    fn an_overlong_line_is_refused_not_read() {
        let long = format!("{{\"segment\": \"{}\"}}", "a".repeat(MAX_LINE_BYTES));
        assert!(parse_line(1, &long).unwrap_err().message.contains("longer"));
    }
}
