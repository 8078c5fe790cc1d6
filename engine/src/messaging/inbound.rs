//! What an inbound message asks for. The whole trimmed message is read, in any case:
//!
//! - Twilio's standard opt-out words — STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT — opt the
//!   sender out of everything; START, UNSTOP and YES opt them back in.
//! - `SUBSCRIBE <topic>` and `UNSUBSCRIBE <topic>` change one topic subscription (UNSUBSCRIBE
//!   with no topic is the opt-out above).
//! - Anything else is a message for a person to read.

use super::valid_name;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    OptOut,
    OptIn,
    Subscribe(String),
    Unsubscribe(String),
    /// Free text, or a SUBSCRIBE whose topic is not a topic name.
    Text,
}

impl Command {
    /// The command as a word for records: `opt_out`, `opt_in`, `subscribe`, `unsubscribe`, `text`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::OptOut => "opt_out",
            Self::OptIn => "opt_in",
            Self::Subscribe(_) => "subscribe",
            Self::Unsubscribe(_) => "unsubscribe",
            Self::Text => "text",
        }
    }

    pub fn parse(body: &str) -> Self {
        let body = body.trim();
        let (word, rest) = body
            .split_once(char::is_whitespace)
            .map_or((body, ""), |(w, r)| (w, r.trim()));
        let word = word.to_ascii_uppercase();
        match (word.as_str(), rest) {
            ("STOP" | "STOPALL" | "UNSUBSCRIBE" | "CANCEL" | "END" | "QUIT", "") => Self::OptOut,
            ("START" | "UNSTOP" | "YES", "") => Self::OptIn,
            ("SUBSCRIBE", topic) if valid_name(&topic.to_ascii_lowercase()) => {
                Self::Subscribe(topic.to_ascii_lowercase())
            }
            ("UNSUBSCRIBE", topic) if valid_name(&topic.to_ascii_lowercase()) => {
                Self::Unsubscribe(topic.to_ascii_lowercase())
            }
            _ => Self::Text,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Command::*;
    use super::*;

    #[test]
    fn keywords_and_topic_commands() {
        for word in [
            "STOP",
            "stop ",
            "Unsubscribe",
            "CANCEL",
            "END",
            "QUIT",
            "STOPALL",
        ] {
            assert_eq!(Command::parse(word), OptOut, "{word}");
        }
        for word in ["START", "unstop", "YES"] {
            assert_eq!(Command::parse(word), OptIn, "{word}");
        }
        assert_eq!(
            Command::parse("subscribe Price-Alerts"),
            Subscribe("price-alerts".into())
        );
        assert_eq!(
            Command::parse("  UNSUBSCRIBE   news "),
            Unsubscribe("news".into())
        );
        assert_eq!(Command::parse("please stop calling"), Text);
        assert_eq!(Command::parse("SUBSCRIBE"), Text);
        assert_eq!(Command::parse("SUBSCRIBE two words"), Text);
        assert_eq!(Command::parse("STOP it"), Text);
    }
}
