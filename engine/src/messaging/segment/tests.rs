use std::collections::BTreeSet;

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::*;

struct Person {
    attributes: Map<String, Value>,
    topics: BTreeSet<String>,
    consent: Consent,
}

impl Subject for Person {
    fn attributes(&self) -> &Map<String, Value> {
        &self.attributes
    }
    fn subscribed(&self, topic: &str) -> bool {
        self.topics.contains(topic)
    }
    fn consent(&self) -> Consent {
        self.consent
    }
}

fn ada() -> Person {
    Person {
        attributes: json!({"name": "Ada", "age": 36, "tier": "gold", "joined": "2024-03-01",
                           "address": {"city": "Berlin"}, "email": null})
        .as_object()
        .cloned()
        .unwrap(),
        topics: ["price-alerts".to_owned()].into(),
        consent: Consent::OptedIn,
    }
}

fn rule(v: Value) -> Rule {
    Rule::parse(&v).unwrap_or_else(|e| panic!("{v}: {e}"))
}

#[test]
fn each_rule_reads_what_it_says() {
    let p = ada();
    let yes = [
        json!({"eq": {"attr": "address.city", "value": "Berlin"}}),
        json!({"eq": {"attr": "age", "value": 36.0}}),
        json!({"in": {"attr": "tier", "values": ["silver", "gold"]}}),
        json!({"exists": {"attr": "name"}}),
        json!({"range": {"attr": "age", "gte": 18, "lt": 65}}),
        json!({"range": {"attr": "joined", "gte": "2024-01-01"}}),
        json!({"subscribed": "price-alerts"}),
        json!({"consent": "opted_in"}),
        json!({"all": []}),
        json!({"not": {"any": []}}),
        json!({"all": [{"subscribed": "price-alerts"}, {"not": {"eq": {"attr": "tier", "value": "bronze"}}}]}),
    ];
    for r in yes {
        assert!(rule(r.clone()).matches(&p), "{r}");
    }
    let no = [
        json!({"exists": {"attr": "email"}}),
        json!({"exists": {"attr": "address.zip"}}),
        json!({"eq": {"attr": "age", "value": "36"}}),
        json!({"range": {"attr": "age", "gt": 36}}),
        json!({"range": {"attr": "name", "gte": 1}}),
        json!({"subscribed": "news"}),
        json!({"consent": "unknown"}),
        json!({"any": []}),
    ];
    for r in no {
        assert!(!rule(r.clone()).matches(&p), "{r}");
    }
}

#[test]
fn mistakes_name_their_place() {
    let cases = [
        (
            json!({"all": [{"eq": {"attr": "a", "value": 1}}, {"range": {"attr": "age"}}]}),
            "rule.all[1].range",
        ),
        (json!({"any": [{"nope": 1}]}), "rule.any[0]"),
        (json!({"eq": {"attr": "a"}}), "rule.eq"),
        (json!({"eq": {"attr": "", "value": 1}}), "rule.eq.attr"),
        (json!({"in": {"attr": "a", "values": 3}}), "rule.in"),
        (json!({"range": {"attr": "a", "gt": true}}), "rule.range.gt"),
        (json!({"consent": "maybe"}), "rule.consent"),
        (json!({"subscribed": "two words"}), "rule.subscribed"),
        (
            json!({"eq": {"attr": "a", "value": 1, "extra": 2}}),
            "rule.eq",
        ),
        (json!({"all": [], "any": []}), "rule"),
        (json!([1]), "rule"),
    ];
    for (json, at) in cases {
        let e = Rule::parse(&json).unwrap_err();
        assert_eq!(e.at, at, "{json}: {e}");
    }
}

#[test]
fn hostile_rules_are_refused() {
    let mut deep = json!({"consent": "unknown"});
    for _ in 0..(MAX_DEPTH + 2) {
        deep = json!({ "not": deep });
    }
    assert!(Rule::parse(&deep).unwrap_err().message.contains("deep"));
    let wide = json!({"any": vec![json!({"consent": "unknown"}); MAX_NODES + 1]});
    assert!(Rule::parse(&wide).unwrap_err().message.contains("parts"));
}

#[test]
fn topics_are_listed() {
    let r = rule(json!({"any": [{"subscribed": "a"}, {"not": {"subscribed": "b"}}]}));
    assert_eq!(r.topics(), ["a", "b"]);
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0..50i64).prop_map(|n| json!({"range": {"attr": "age", "gte": n}})),
        prop::sample::select(vec!["gold", "silver"])
            .prop_map(|t| json!({"eq": {"attr": "tier", "value": t}})),
        prop::sample::select(vec!["price-alerts", "news"]).prop_map(|t| json!({"subscribed": t})),
        prop::sample::select(vec!["opted_in", "opted_out", "unknown"])
            .prop_map(|c| json!({"consent": c})),
        prop::sample::select(vec!["name", "email", "nickname"])
            .prop_map(|a| json!({"exists": {"attr": a}})),
    ]
}

fn tree() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(|v| json!({ "all": v })),
            proptest::collection::vec(inner.clone(), 0..4).prop_map(|v| json!({ "any": v })),
            inner.prop_map(|r| json!({ "not": r })),
        ]
    })
}

proptest! {
    /// not(not(r)) is r; De Morgan holds; all and any agree with their parts.
    #[test]
    fn the_logic_is_boolean_logic(a in tree(), b in tree()) {
        let p = ada();
        let ra = rule(a.clone()).matches(&p);
        let rb = rule(b.clone()).matches(&p);
        prop_assert_eq!(rule(json!({"not": {"not": a.clone()}})).matches(&p), ra);
        prop_assert_eq!(rule(json!({"all": [a.clone(), b.clone()]})).matches(&p), ra && rb);
        prop_assert_eq!(rule(json!({"any": [a.clone(), b.clone()]})).matches(&p), ra || rb);
        prop_assert_eq!(
            rule(json!({"not": {"all": [a.clone(), b.clone()]}})).matches(&p),
            rule(json!({"any": [{"not": a}, {"not": b}]})).matches(&p)
        );
    }

    /// Any JSON at all is parsed or refused, never a panic.
    #[test]
    fn any_json_is_parsed_or_refused(text in "[\\[\\]{}\":,a-z0-9 ]{0,40}") {
        if let Ok(v) = serde_json::from_str::<Value>(&text) {
            let _ = Rule::parse(&v);
        }
    }
}
