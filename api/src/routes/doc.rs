//! What every operation of the OpenAPI document must say, whatever its annotation forgot: each
//! `{name}` of its path as a path parameter; 401, 403 and 429 when it needs a token (missing,
//! a role that may not, the token's rate limit); 400 when it takes input; 413 and 415 when it
//! takes a body; 503 everywhere (storage or the lease store unavailable, the request timeout).

use dialer_engine::{E164_PATTERN, PhoneValidation};
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{
    AllOfBuilder, AnyOfBuilder, ArrayBuilder, KnownFormat, ObjectBuilder, Schema, SchemaFormat,
    Type,
};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, Required, ResponseBuilder};

pub(super) struct Complete;

/// A segment's, template's or topic's name.
pub(crate) const NAME_PATTERN: &str = "^[A-Za-z0-9._-]{1,64}$";
/// A language tag.
const LOCALE_PATTERN: &str = "^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$";

impl utoipa::Modify for Complete {
    fn modify(&self, openapi: &mut OpenApi) {
        for (path, item) in &mut openapi.paths.paths {
            let names: Vec<&str> = path
                .split('{')
                .skip(1)
                .filter_map(|s| s.split_once('}').map(|(name, _)| name))
                .collect();
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in operations.into_iter().flatten() {
                complete(op, &names);
            }
        }
        numbers_or_the_campaigns(openapi);
        events(openapi);
        csv_upload(openapi);
        links(openapi);
    }
}

fn complete(op: &mut Operation, names: &[&str]) {
    let params = op.parameters.get_or_insert_with(Vec::new);
    for name in names {
        let declared = params.iter().any(
            |p| matches!(p, RefOr::T(p) if p.name == *name && p.parameter_in == ParameterIn::Path),
        );
        if !declared {
            params.push(RefOr::T(path_parameter(name)));
        }
    }
    let takes_input = op.request_body.is_some() || !params.is_empty();
    if params.is_empty() {
        op.parameters = None;
    }
    let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let has_body = op.request_body.is_some();
    let responses = &mut op.responses.responses;
    let mut add = |code: &str, description: &str| {
        responses
            .entry(code.to_owned())
            .or_insert_with(|| error(description));
    };
    if secured {
        add("401", "Missing or unknown X-Auth-Token");
        add("403", "This token's role may not do this");
        add(
            "429",
            "This token's rate limit; Retry-After says when to come back",
        );
    }
    if takes_input {
        add("400", "Invalid input: the error names the field");
    }
    if has_body {
        add("413", "The body is larger than the limit");
        add(
            "415",
            "The body is not of a media type this operation takes",
        );
    }
    add(
        "503",
        "Storage or the lease store is unavailable, or the request timed out",
    );
}

fn path_parameter(name: &str) -> Parameter {
    let schema = match name {
        "id" => ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .minimum(Some(1)),
        "call_id" => ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid))),
        "name" => ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(NAME_PATTERN)),
        "channel" => ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(
                dialer_engine::messaging::Channel::ALL.map(|c| c.as_str()),
            )),
        "locale" => ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(LOCALE_PATTERN))
            .max_length(Some(35)),
        _ => ObjectBuilder::new().schema_type(Type::String),
    };
    let description = match name {
        "id" => "The campaign's id",
        "call_id" => "The call's id (UUID)",
        "phone_number" => "E.164, URL-encoded (`%2B14155552671`)",
        "name" => "The name: 1 to 64 letters, digits, '-', '_' or '.'",
        "channel" => "voice, sms or whatsapp",
        "locale" => "A language tag such as en, de or pt-BR",
        _ => "",
    };
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(schema.build()))
        .build()
}

fn error(description: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build(),
    )
}

/// What the document says that depends on this node's configuration: in `e164` mode, the
/// pattern every single phone number a request sends must match (in `strict` mode a number must
/// be valid in its numbering plan, which no pattern says; the field descriptions do).
pub(super) fn configure(doc: &mut OpenApi, validation: PhoneValidation) {
    if validation != PhoneValidation::E164 {
        return;
    }
    let requests = request_schemas(doc);
    if let Some(components) = &mut doc.components {
        for (name, schema) in &mut components.schemas {
            if let (true, RefOr::T(Schema::Object(object))) = (requests.contains(name), schema)
                && let Some(RefOr::T(Schema::Object(field))) =
                    object.properties.get_mut("phone_number")
            {
                field.pattern = Some(E164_PATTERN.to_owned());
            }
        }
    }
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.delete,
            &mut item.post,
            &mut item.put,
        ];
        for op in operations.into_iter().flatten() {
            for param in op.parameters.iter_mut().flatten() {
                if let RefOr::T(p) = param
                    && p.name == "phone_number"
                    && let Some(RefOr::T(Schema::Object(schema))) = &mut p.schema
                {
                    schema.pattern = Some(E164_PATTERN.to_owned());
                }
            }
        }
    }
}

/// The names of the component schemas request bodies use.
fn request_schemas(doc: &OpenApi) -> Vec<String> {
    let mut names = Vec::new();
    for item in doc.paths.paths.values() {
        let operations = [&item.post, &item.put, &item.patch];
        let bodies = operations
            .into_iter()
            .flatten()
            .filter_map(|op| match &op.request_body {
                Some(RefOr::T(body)) => Some(body),
                _ => None,
            });
        for body in bodies {
            for content in body.content.values() {
                if let RefOr::T(content) = content
                    && let Some(RefOr::Ref(r)) = &content.schema
                {
                    names.extend(r.ref_location.rsplit('/').next().map(str::to_owned));
                }
            }
        }
    }
    names
}

/// `bulk-initiate-calls` takes numbers (1 to 10,000) or `use_campaign_numbers: true`: a rule
/// across fields, which a struct's schema cannot say.
fn numbers_or_the_campaigns(doc: &mut OpenApi) {
    let Some(schemas) = doc.components.as_mut().map(|c| &mut c.schemas) else {
        return;
    };
    let Some(fields) = schemas.remove("BulkInitiateCalls") else {
        return;
    };
    let campaign_numbers = ObjectBuilder::new()
        .property(
            "use_campaign_numbers",
            ObjectBuilder::new()
                .schema_type(Type::Boolean)
                .enum_values(Some([true])),
        )
        .required("use_campaign_numbers");
    let numbers = ObjectBuilder::new()
        .property(
            "phone_numbers",
            ArrayBuilder::new()
                .items(ObjectBuilder::new().schema_type(Type::String))
                .min_items(Some(1))
                .max_items(Some(10_000)),
        )
        .property(
            "use_campaign_numbers",
            ObjectBuilder::new()
                .schema_type(Type::Boolean)
                .enum_values(Some([false])),
        )
        .required("phone_numbers");
    let either = AnyOfBuilder::new().item(campaign_numbers).item(numbers);
    let rule = AllOfBuilder::new()
        .item(fields)
        .item(either)
        .description(Some(
            "`phone_numbers` (1 to 10,000), or `use_campaign_numbers: true` to call the \
             campaign's contacts",
        ));
    schemas.insert("BulkInitiateCalls".to_owned(), RefOr::T(rule.into()));
}

/// The events stream documents one event (OpenAPI 3.1 reads an event stream's `schema` so): a
/// `call` event carries a call's change as JSON, a `lagged` event how many a slow subscriber
/// missed.
fn events(doc: &mut OpenApi) {
    let Some(content) = doc
        .paths
        .paths
        .get_mut("/api/v1/events")
        .and_then(|item| item.get.as_mut())
        .and_then(|op| op.responses.responses.get_mut("200"))
        .and_then(|r| match r {
            RefOr::T(r) => r.content.get_mut("text/event-stream"),
            RefOr::Ref(_) => None,
        })
        .and_then(|c| match c {
            RefOr::T(c) => Some(c),
            RefOr::Ref(_) => None,
        })
    else {
        return;
    };
    let name = |n: &str| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some([n]))
    };
    let mut call_data = ObjectBuilder::new()
        .schema_type(Type::String)
        .content_media_type("application/json")
        .build();
    // utoipa has no field for `contentSchema`; its extensions are written as they are.
    call_data
        .extensions
        .get_or_insert_with(Default::default)
        .insert(
            "contentSchema".to_owned(),
            serde_json::json!({"$ref": "#/components/schemas/CallEventOut"}),
        );
    let call = ObjectBuilder::new()
        .property("event", name("call"))
        .property("id", ObjectBuilder::new().schema_type(Type::String))
        .property("data", call_data)
        .required("event")
        .required("data");
    let lagged = ObjectBuilder::new()
        .property("event", name("lagged"))
        .property(
            "data",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[0-9]+$")),
        )
        .required("event")
        .required("data");
    content.schema = Some(RefOr::T(
        utoipa::openapi::schema::OneOfBuilder::new()
            .item(call)
            .item(lagged)
            .into(),
    ));
}

/// A CSV upload's header names the phone column: the document says the simplest such file (the
/// column first, at most 200 columns, no quoting); the handler reads more (README: Import).
fn csv_upload(doc: &mut OpenApi) {
    for path in [
        "/api/v1/campaigns/{id}/contacts/import",
        "/api/v1/recipients/import",
    ] {
        csv_body(doc, path);
    }
}

fn csv_body(doc: &mut OpenApi, path: &str) {
    let body = doc
        .paths
        .paths
        .get_mut(path)
        .and_then(|item| item.post.as_mut())
        .and_then(|op| op.request_body.as_mut());
    if let Some(RefOr::T(body)) = body
        && let Some(RefOr::T(csv)) = body.content.get_mut("text/csv")
    {
        csv.schema = Some(RefOr::T(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(
                    "^[ \\t]*(phone_number|phone|number|msisdn)[ \\t]*(,[^\\r\\n,\"]*){0,199}(\\r?\\n[^\"]*)?$",
                ))
                .into(),
        ));
    }
}

/// Links from what creates a resource to what takes its id, so that clients (and schemathesis's
/// stateful phase) can follow them: a new campaign's `id` into every `/campaigns/{id}` operation
/// and the `campaign_id` filters, a new call's `call_id` into `/calls/{call_id}`.
fn links(doc: &mut OpenApi) {
    let sources = [
        ("/api/v1/campaigns", "id", "/api/v1/campaigns/{id}", "id"),
        ("/api/v1/campaigns", "campaign_id", "/api/v1/calls", "id"),
        ("/api/v1/campaigns", "campaign_id", "/api/v1/events", "id"),
        (
            "/api/v1/calls",
            "call_id",
            "/api/v1/calls/{call_id}",
            "call_id",
        ),
        (
            "/api/v1/initiate-call",
            "call_id",
            "/api/v1/calls/{call_id}",
            "call_id",
        ),
    ];
    let mut found: Vec<(&str, String, utoipa::openapi::link::Link)> = Vec::new();
    for (source, param, prefix, field) in sources {
        for (path, item) in &doc.paths.paths {
            if path != prefix && !path.starts_with(&format!("{prefix}/")) {
                continue;
            }
            let methods = [
                ("get", &item.get),
                ("put", &item.put),
                ("post", &item.post),
                ("delete", &item.delete),
                ("patch", &item.patch),
            ];
            for (method, op) in methods {
                let Some(op) = op else { continue };
                let takes = op
                    .parameters
                    .iter()
                    .flatten()
                    .any(|p| matches!(p, RefOr::T(p) if p.name == param));
                if !takes {
                    continue;
                }
                let pointer = path.replace('~', "~0").replace('/', "~1");
                let link = utoipa::openapi::link::LinkBuilder::new()
                    .operation_ref(format!("#/paths/{pointer}/{method}"))
                    .parameter(param, format!("$response.body#/{field}"))
                    .build();
                let tail = path
                    .trim_start_matches("/api/v1/")
                    .replace(['/', '{', '}'], "_");
                found.push((source, format!("{method}_{tail}"), link));
            }
        }
    }
    for (source, name, link) in found {
        let created = doc
            .paths
            .paths
            .get_mut(source)
            .and_then(|item| item.post.as_mut())
            .and_then(|op| op.responses.responses.get_mut("201"));
        if let Some(RefOr::T(response)) = created {
            response.links.insert(name, RefOr::T(link));
        }
    }
}
