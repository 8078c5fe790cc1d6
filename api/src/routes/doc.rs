//! What every operation of the OpenAPI document must say, whatever its annotation forgot: each
//! `{name}` of its path as a path parameter; 401, 403 and 429 when it needs a token (missing,
//! a role that may not, the token's rate limit); 400 when it takes input; 413 and 415 when it
//! takes a body; 503 everywhere (storage or the lease store unavailable, the request timeout).

use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, Required, ResponseBuilder};

pub(super) struct Complete;

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
        _ => ObjectBuilder::new().schema_type(Type::String),
    };
    let description = match name {
        "id" => "The campaign's id",
        "call_id" => "The call's id (UUID)",
        "phone_number" => "E.164, URL-encoded (`%2B14155552671`)",
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
