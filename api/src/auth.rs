//! Authentication and authorization: the `X-Auth-Token` header, compared in constant time
//! against the configured tokens; roles decide what a token may do; a per-token rate limit
//! answers 429 with `Retry-After`.

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

use crate::config::ApiToken;
use crate::error::ApiError;
use crate::state::AppState;

pub const HEADER: &str = "x-auth-token";

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including removing numbers from the do-not-call list.
    Admin,
    /// Run campaigns and calls: everything but the admin actions.
    Operator,
    /// Read only.
    Viewer,
    /// A telephony provider: only the callback endpoint.
    Provider,
}

/// The kind of action a route performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Read,
    Write,
    Admin,
    Callback,
}

impl Action {
    fn verb(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "change anything",
            Self::Admin => "perform admin actions",
            Self::Callback => "report call statuses",
        }
    }
}

impl Role {
    pub fn allows(self, action: Action) -> bool {
        matches!(
            (self, action),
            (Self::Admin, _)
                | (
                    Self::Operator,
                    Action::Read | Action::Write | Action::Callback
                )
                | (Self::Viewer, Action::Read)
                | (Self::Provider, Action::Callback)
        )
    }
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub name: Arc<str>,
    pub role: Role,
}

impl Principal {
    pub fn require(&self, action: Action) -> Result<(), ApiError> {
        if self.role.allows(action) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(action.verb()))
        }
    }
}

pub struct Auth {
    tokens: Vec<ApiToken>,
    limiter: Option<DefaultKeyedRateLimiter<Arc<str>>>,
    /// Provider tokens carry callbacks, whose rate follows the calls in flight: their own limit.
    provider_limiter: Option<DefaultKeyedRateLimiter<Arc<str>>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

impl Auth {
    /// Tokens with a limit of `per_second` requests each, `provider_per_second` for the
    /// `provider` role (0: no limit).
    pub fn new(tokens: Vec<ApiToken>, per_second: u32, provider_per_second: u32) -> Self {
        let keyed = |n: u32| NonZeroU32::new(n).map(|n| RateLimiter::keyed(Quota::per_second(n)));
        Self {
            tokens,
            limiter: keyed(per_second),
            provider_limiter: keyed(provider_per_second),
        }
    }

    /// The principal for a header value. Every configured token is compared, in constant time
    /// per token, whatever matches first.
    pub fn authenticate(&self, presented: Option<&[u8]>) -> Result<Principal, ApiError> {
        let presented = presented.ok_or(ApiError::Unauthorized)?;
        let mut found = None;
        for t in &self.tokens {
            let equal: bool = t.secret.as_bytes().ct_eq(presented).into();
            if equal && found.is_none() {
                found = Some(Principal {
                    name: Arc::from(t.name.as_str()),
                    role: t.role,
                });
            }
        }
        let principal = found.ok_or(ApiError::Unauthorized)?;
        let limiter = match principal.role {
            Role::Provider => &self.provider_limiter,
            _ => &self.limiter,
        };
        if let Some(limiter) = limiter
            && let Err(not_until) = limiter.check_key(&principal.name)
        {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            return Err(ApiError::RateLimited {
                retry_after_secs: wait.as_secs().max(1),
            });
        }
        Ok(principal)
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        state
            .auth
            .authenticate(parts.headers.get(HEADER).map(|v| v.as_bytes()))
    }
}

/// The permissions a route can ask for, as types: `Authorized<can::Write>`.
pub mod can {
    use super::Action;

    pub trait Permission {
        const ACTION: Action;
    }

    macro_rules! permissions {
        ($($name:ident),*) => {$(
            #[derive(Debug, Clone, Copy)]
            pub struct $name;
            impl Permission for $name {
                const ACTION: Action = Action::$name;
            }
        )*};
    }

    permissions!(Read, Write, Admin, Callback);
}

/// A caller allowed to perform `P`. As an extractor it runs before the body is read, so a
/// caller without the permission learns nothing about the body's validity.
#[derive(Debug, Clone)]
pub struct Authorized<P>(pub Principal, std::marker::PhantomData<P>);

impl<P> std::ops::Deref for Authorized<P> {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        &self.0
    }
}

impl<P: can::Permission + Send + Sync> FromRequestParts<AppState> for Authorized<P> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let principal = Principal::from_request_parts(parts, state).await?;
        principal.require(P::ACTION)?;
        Ok(Self(principal, std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(per_second: u32) -> Auth {
        auth_with(per_second, per_second)
    }

    fn auth_with(per_second: u32, provider: u32) -> Auth {
        Auth::new(
            vec![
                ApiToken {
                    name: "ops".into(),
                    role: Role::Operator,
                    secret: "operator-token-0001".into(),
                },
                ApiToken {
                    name: "ro".into(),
                    role: Role::Viewer,
                    secret: "viewer-token-000001".into(),
                },
                ApiToken {
                    name: "carrier".into(),
                    role: Role::Provider,
                    secret: "provider-token-0001".into(),
                },
            ],
            per_second,
            provider,
        )
    }

    #[test]
    fn tokens_map_to_roles_and_unknown_ones_are_refused() {
        let a = auth(0);
        assert_eq!(
            a.authenticate(Some(b"operator-token-0001")).unwrap().role,
            Role::Operator
        );
        assert_eq!(
            a.authenticate(Some(b"viewer-token-000001")).unwrap().role,
            Role::Viewer
        );
        assert_eq!(
            a.authenticate(Some(b"viewer-token-00000")).unwrap_err(),
            ApiError::Unauthorized
        );
        assert_eq!(a.authenticate(None).unwrap_err(), ApiError::Unauthorized);
    }

    #[test]
    fn roles_allow_what_they_say() {
        assert!(Role::Viewer.allows(Action::Read) && !Role::Viewer.allows(Action::Write));
        assert!(Role::Operator.allows(Action::Write) && !Role::Operator.allows(Action::Admin));
        assert!(Role::Provider.allows(Action::Callback) && !Role::Provider.allows(Action::Read));
        assert!(Role::Admin.allows(Action::Admin));
    }

    #[test]
    fn each_token_has_its_own_rate_limit() {
        let a = auth(2);
        assert!(a.authenticate(Some(b"operator-token-0001")).is_ok());
        assert!(a.authenticate(Some(b"operator-token-0001")).is_ok());
        assert!(matches!(
            a.authenticate(Some(b"operator-token-0001")),
            Err(ApiError::RateLimited { .. })
        ));
        assert!(
            a.authenticate(Some(b"viewer-token-000001")).is_ok(),
            "another token is not limited"
        );
    }

    #[test]
    fn provider_tokens_have_their_own_higher_limit() {
        let a = auth_with(2, 1_000);
        for _ in 0..2 {
            a.authenticate(Some(b"operator-token-0001")).unwrap();
        }
        assert!(a.authenticate(Some(b"operator-token-0001")).is_err());
        // Callbacks at the pace of a thousand calls a second are not turned away.
        for i in 0..1_000 {
            assert!(
                a.authenticate(Some(b"provider-token-0001")).is_ok(),
                "callback {i} refused"
            );
        }
    }
}
