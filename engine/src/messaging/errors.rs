//! Which provider error codes are worth a retry. Twilio's messaging error codes
//! (<https://www.twilio.com/docs/api/errors>): a message that failed for a passing reason — a
//! full queue, a handset off the network, a rate limit, an unknown carrier error — is retried by
//! the campaign's retry rules; one that can never succeed (an invalid or landline number, a
//! blocked or filtered message, an account or registration problem) is not; and an
//! "unsubscribed recipient" error records the recipient's opt-out, as a STOP would.
//!
//! | code | meaning | class |
//! |---|---|---|
//! | 20429 | too many requests | retryable |
//! | 30001 | queue overflow | retryable |
//! | 30003 | unreachable destination handset | retryable |
//! | 30008 | unknown error | retryable |
//! | 30009 | missing segment | retryable |
//! | 30022 | A2P 10DLC rate limit exceeded | retryable |
//! | 63018 | WhatsApp rate limit exceeded | retryable |
//! | 21610 | the recipient replied STOP | opted out |
//! | 30002 | account suspended | permanent |
//! | 30004 | message blocked | permanent |
//! | 30005 | unknown destination handset | permanent |
//! | 30006 | landline or unreachable carrier | permanent |
//! | 30007 | carrier filtering | permanent |
//! | 30010 | price exceeds the maximum | permanent |
//! | 30034 | unregistered A2P 10DLC number | permanent |
//! | 21211 | invalid `To` number | permanent |
//! | 21408 | region not enabled | permanent |
//! | 21614 | `To` is not a mobile number | permanent |
//! | 63003 | WhatsApp: no such address | permanent |
//! | 63016 | WhatsApp: outside the 24-hour window (a template is needed) | permanent |
//! | 63024 | WhatsApp: invalid recipient | permanent |
//! | any other | | permanent (a retry of an unknown failure is not free: it is a second message) |
//!
//! A transport failure (a timeout or a 5xx answer before the provider accepted the message) has
//! no code and is retryable.

/// What a provider error means for the next attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// A passing failure: the retry rules may send again.
    Retryable,
    /// It can never succeed: do not send again.
    Permanent,
    /// The recipient opted out: record it and do not send again.
    OptedOut,
}

/// The codes a retry may cure, and the one that means an opt-out.
pub const RETRYABLE: [&str; 7] = [
    "20429", "30001", "30003", "30008", "30009", "30022", "63018",
];
pub const OPTED_OUT: &str = "21610";

/// The class of a provider error code (`None`: no code, a transport failure).
pub fn classify(code: Option<&str>) -> ErrorClass {
    match code.map(str::trim) {
        None | Some("") => ErrorClass::Retryable,
        Some(OPTED_OUT) => ErrorClass::OptedOut,
        Some(c) if RETRYABLE.contains(&c) => ErrorClass::Retryable,
        Some(_) => ErrorClass::Permanent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_the_code() {
        assert_eq!(classify(Some("30003")), ErrorClass::Retryable);
        assert_eq!(classify(Some(" 63018 ")), ErrorClass::Retryable);
        assert_eq!(classify(Some("21610")), ErrorClass::OptedOut);
        assert_eq!(classify(Some("30006")), ErrorClass::Permanent);
        assert_eq!(classify(Some("99999")), ErrorClass::Permanent);
        assert_eq!(classify(None), ErrorClass::Retryable);
        // Every code the module's table calls retryable is in the list, and only those.
        let doc = include_str!("errors.rs");
        let listed: Vec<&str> = doc
            .lines()
            .filter(|l| l.starts_with("//! | ") && l.ends_with("| retryable |"))
            .filter_map(|l| l.split('|').nth(1).map(str::trim))
            .collect();
        assert_eq!(listed, RETRYABLE);
    }
}
