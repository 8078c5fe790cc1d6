//! The OpenAPI schemas of input fields whose rule a Rust type does not say: ids that start at 1,
//! the value sets of string fields (read from the engine's own lists, so the document cannot
//! drift from what the handlers accept), a name's length. Used with `schema_with`.
//! [`routes::doc`](crate::routes) adds what depends on the node's configuration (the phone
//! number pattern in `e164` mode).

use dialer_engine::{CallOrigin, CallStatus};
use dialer_storage::DncKind;
use utoipa::openapi::schema::{KnownFormat, Object, ObjectBuilder, SchemaFormat, SchemaType, Type};

/// The longest campaign name, in characters.
pub const NAME_MAX_CHARS: usize = 200;

/// What a name must contain besides spaces, tabs and line breaks (the characters trimmed off).
pub const NAME_TRIMMED: [char; 4] = [' ', '\t', '\n', '\r'];

fn types(t: Type, nullable: bool) -> SchemaType {
    if nullable {
        SchemaType::from_iter([t, Type::Null])
    } else {
        SchemaType::new(t)
    }
}

fn id(nullable: bool) -> Object {
    ObjectBuilder::new()
        .schema_type(types(Type::Integer, nullable))
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(1))
        .build()
}

/// A campaign id (or an id to page after): 1 or more.
pub fn campaign_id() -> Object {
    id(false)
}

pub fn campaign_id_or_null() -> Object {
    id(true)
}

/// A page size: any unsigned 32-bit number; the handler reads 0 as 1 and caps it (the
/// description says where).
pub fn limit() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(0))
        .maximum(Some(u32::MAX))
        .build()
}

/// A string from `values`, or null when `nullable` (an `enum` restricts null too).
fn one_of<'a>(values: impl IntoIterator<Item = &'a str>, nullable: bool) -> Object {
    let mut values: Vec<serde_json::Value> = values.into_iter().map(Into::into).collect();
    if nullable {
        values.push(serde_json::Value::Null);
    }
    ObjectBuilder::new()
        .schema_type(types(Type::String, nullable))
        .enum_values(Some(values))
        .build()
}

pub fn call_status() -> Object {
    one_of(CallStatus::ALL.iter().map(|s| s.as_str()), false)
}

pub fn call_origin() -> Object {
    one_of(CallOrigin::ALL.iter().map(|o| o.as_str()), false)
}

pub fn dnc_kind() -> Object {
    one_of(DncKind::ALL.iter().map(|k| k.as_str()), false)
}

/// A recipient's consent state, or null.
pub fn consent_or_null() -> Object {
    one_of(
        dialer_engine::messaging::Consent::ALL
            .iter()
            .map(|c| c.as_str()),
        true,
    )
}

pub fn dnc_kind_or_null() -> Object {
    one_of(DncKind::ALL.iter().map(|k| k.as_str()), true)
}

/// The statuses the seed's callback takes (any case; `-` and `_` alike).
pub fn callback_status() -> Object {
    one_of(dialer_actors::provider::STATUS_NAMES.iter().copied(), false)
}

/// The delivery statuses a messaging provider reports (any case).
pub fn message_report_status() -> Object {
    one_of(
        dialer_engine::messaging::MessageStatus::PROVIDER_WORDS
            .iter()
            .copied(),
        false,
    )
}

/// ISO 3166 codes of the regions the numbering plan knows (any case).
pub fn region_or_null() -> Object {
    let regions = dialer_engine::Region::all();
    one_of(regions.iter().map(String::as_str), true)
}

/// A call id.
pub fn call_id() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
        .build()
}

fn name(nullable: bool) -> Object {
    ObjectBuilder::new()
        .schema_type(types(Type::String, nullable))
        .min_length(Some(1))
        .max_length(Some(NAME_MAX_CHARS))
        .pattern(Some("[^ \\t\\n\\r]"))
        .description(Some(
            "1 to 200 characters, not only spaces, tabs and line breaks (trimmed off)",
        ))
        .build()
}

pub fn campaign_name() -> Object {
    name(false)
}

pub fn campaign_name_or_null() -> Object {
    name(true)
}

/// A campaign's settings: an object (merged over the current ones on update).
pub fn settings_or_null() -> Object {
    ObjectBuilder::new()
        .schema_type(types(Type::Object, true))
        .description(Some(
            "The campaign's settings (README: Campaign settings): time_zone, zone_policy, \
             default_region, phone_validation, calling_hours, retry, provider, caller_id, \
             max_concurrent, one_off_share_percent, max_calls_per_second, max_calls_per_minute, \
             max_call_duration_secs, ring_timeout_secs, sim. On update they merge over the \
             current ones (JSON Merge Patch: null removes a key).",
        ))
        .build()
}

/// A do-not-call page's cursor: `<E.164>,<kind>` of the last entry of the previous page.
pub fn dnc_cursor() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^\\+[0-9]{7,15},(dnc|opt_out)$"))
        .build()
}

/// Any integer, however large.
pub fn any_integer_or_null() -> Object {
    ObjectBuilder::new()
        .schema_type(types(Type::Integer, true))
        .build()
}
