//! Who may call what (CONTRACT section 5): every `/v1` route needs `Authorization: Bearer
//! <credential>`; session routes accept a *service* or an *admin* credential, every other route
//! an admin one; `/healthz` and `/readyz` need none.
//!
//! The check is one middleware over every route ([`authenticate`]), and which credential a route
//! needs is decided by [`required_role`] from the route's pattern, admin unless listed otherwise:
//! a handler cannot forget the check, and a new route is closed until it is deliberately opened.
//!
//! Credentials are compared without timing leaks by construction: the presented credential and
//! every configured one are reduced to SHA-256 digests (so every comparison is of 32 bytes,
//! whatever the lengths), and the presented digest is compared with every configured digest with
//! `subtle`'s constant-time equality, all of them, whether or not one already matched. No
//! credential is ever logged, echoed in an error or counted in a metric.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Json;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hotcold_engine::PseudonymKey;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use super::config::AuthEntry;
use super::metrics::Metrics;

/// Shortest credential accepted in a credentials file: a guessable credential is no credential.
const MIN_CREDENTIAL_CHARS: usize = 16;

/// What a credential lets its holder call. Admin includes everything a service may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Role {
    /// The session routes (the API gateway and the auth service).
    Service,
    /// Every route (operators, the compliance tooling, the metrics scraper).
    Admin,
}

/// The credential a route needs, by its pattern: none for the probes and the API description,
/// service for the session routes, admin for everything else, including routes added later and
/// not listed here.
pub(crate) fn required_role(route: &str) -> Option<Role> {
    match route {
        // The probes, and the API's description (CONTRACT section 5: no credential).
        "/healthz" | "/readyz" | "/v1/openapi.json" => None,
        "/v1/sessions" | "/v1/sessions/{token}" => Some(Role::Service),
        _ => Some(Role::Admin),
    }
}

/// The configured credentials, as SHA-256 digests (the credentials themselves are not kept).
pub(crate) struct Credentials {
    service: Vec<[u8; 32]>,
    admin: Vec<[u8; 32]>,
}

impl std::fmt::Debug for Credentials {
    /// Counts only: not even a digest of a credential is printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials {{ service: {}, admin: {} }}", self.service.len(), self.admin.len())
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

impl Credentials {
    /// Credentials from their lists (tests, and [`Access::from_config`]).
    pub(crate) fn new<'a>(
        service: impl IntoIterator<Item = &'a str>,
        admin: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        Self {
            service: service.into_iter().map(|c| digest(c.as_bytes())).collect(),
            admin: admin.into_iter().map(|c| digest(c.as_bytes())).collect(),
        }
    }

    /// The role a presented credential carries, if it is a configured one. Constant time in the
    /// credential: every configured digest is compared, and none of the comparisons stops early.
    pub(crate) fn role_of(&self, presented: &[u8]) -> Option<Role> {
        let presented = digest(presented);
        let matches_any = |known: &[[u8; 32]]| {
            known.iter().fold(Choice::from(0), |found, candidate| found | candidate.ct_eq(&presented))
        };
        let (admin, service) = (matches_any(&self.admin), matches_any(&self.service));
        if bool::from(admin) {
            Some(Role::Admin)
        } else if bool::from(service) {
            Some(Role::Service)
        } else {
            None
        }
    }
}

/// Whether requests are checked at all.
#[derive(Debug)]
pub(crate) enum Access {
    /// `auth: { disabled: true }`: every route open.
    Open,
    /// Every `/v1` route and `/metrics` needs a credential.
    Checked(Credentials),
}

/// A credentials file that cannot be used: the key naming it and why (never its content).
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub(crate) struct CredentialsError {
    pub(crate) key: &'static str,
    pub(crate) message: String,
}

impl Access {
    /// The access the `auth` block asks for, its files read now. Relative paths are taken from
    /// the directory of the config file (`config_dir`). An unreadable file, one with no
    /// credential or with one shorter than 16 characters is an error naming its key.
    pub(crate) fn from_config(auth: &AuthEntry, config_dir: &Path) -> Result<Self, CredentialsError> {
        if auth.disabled {
            return Ok(Self::Open);
        }
        let service =
            read_credentials("auth.service_credentials_file", auth.service_credentials_file.as_ref(), config_dir)?;
        let admin = read_credentials("auth.admin_credentials_file", auth.admin_credentials_file.as_ref(), config_dir)?;
        Ok(Self::Checked(Credentials::new(service.iter().map(String::as_str), admin.iter().map(String::as_str))))
    }
}

/// The key of erased users' pseudonyms from `auth.pseudonym_key_file` (its bytes, surrounding
/// whitespace trimmed), or `None` without one (the engine then draws a random key).
pub(crate) fn pseudonym_key(auth: &AuthEntry, config_dir: &Path) -> Result<Option<PseudonymKey>, CredentialsError> {
    let Some(file) = &auth.pseudonym_key_file else { return Ok(None) };
    let key = "auth.pseudonym_key_file";
    let path = config_dir.join(file);
    let secret = std::fs::read(&path)
        .map_err(|e| CredentialsError { key, message: format!("cannot read {}: {e}", path.display()) })?;
    PseudonymKey::from_secret(secret.trim_ascii()).map(Some).ok_or_else(|| CredentialsError {
        key,
        message: format!("{} holds fewer than {} bytes of secret", path.display(), PseudonymKey::MIN_SECRET_BYTES),
    })
}

/// One credential a line; blank lines and `#` comments ignored, surrounding spaces trimmed.
fn read_credentials(
    key: &'static str,
    file: Option<&PathBuf>,
    config_dir: &Path,
) -> Result<Vec<String>, CredentialsError> {
    let error = |message: String| CredentialsError { key, message };
    let file = file.ok_or_else(|| error("required".into()))?;
    let path = config_dir.join(file);
    let text = std::fs::read_to_string(&path).map_err(|e| error(format!("cannot read {}: {e}", path.display())))?;
    let mut credentials = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.chars().count() < MIN_CREDENTIAL_CHARS {
            // The line number, never the credential.
            return Err(error(format!(
                "{} line {}: a credential must be at least {MIN_CREDENTIAL_CHARS} characters",
                path.display(),
                index + 1
            )));
        }
        credentials.push(line.to_string());
    }
    if credentials.is_empty() {
        return Err(error(format!("{} holds no credential (one a line, # for comments)", path.display())));
    }
    Ok(credentials)
}

/// What the middleware needs.
#[derive(Debug)]
pub(crate) struct Gate {
    pub(crate) access: Access,
    pub(crate) metrics: Metrics,
}

/// The credential of an `Authorization: Bearer <credential>` header, if there is one.
fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    let value = headers.get(header::AUTHORIZATION)?.as_bytes();
    let (scheme, credential) = value.split_at_checked(7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let credential = credential.trim_ascii();
    (!credential.is_empty()).then_some(credential)
}

/// The middleware over every route: 401 (with `WWW-Authenticate: Bearer`) without a known
/// credential, 403 for a service credential on an admin route, else the route.
pub(crate) async fn authenticate(
    State(gate): State<Arc<Gate>>,
    route: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    let Access::Checked(credentials) = &gate.access else {
        return next.run(request).await;
    };
    // Routes are matched before this runs; no pattern (never expected) needs the most.
    let Some(needed) = route.as_ref().map_or(Some(Role::Admin), |r| required_role(r.as_str())) else {
        return next.run(request).await;
    };
    match bearer(request.headers()).and_then(|credential| credentials.role_of(credential)) {
        Some(role) if role >= needed => next.run(request).await,
        Some(_) => {
            gate.metrics.rejected("forbidden");
            let body = json!({ "error": "this credential may not call this route (it needs an admin credential)" });
            (StatusCode::FORBIDDEN, Json(body)).into_response()
        }
        None => {
            gate.metrics.rejected("unauthenticated");
            let body = json!({ "error": "missing or unknown credential: send `Authorization: Bearer <credential>`" });
            let mut response = (StatusCode::UNAUTHORIZED, Json(body)).into_response();
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"hotcold\""));
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every operation of the OpenAPI description asks for the credential the gate requires:
    /// none, service or admin.
    #[test]
    fn the_openapi_description_names_the_credential_each_route_needs() {
        let spec: serde_json::Value = serde_json::from_str(super::super::api::OPENAPI).expect("openapi.json parses");
        let paths = spec["paths"].as_object().expect("paths");
        assert!(paths.len() >= 9, "{}", paths.len());
        for (path, item) in paths {
            for (method, operation) in item.as_object().expect("a path item") {
                if method == "parameters" {
                    continue;
                }
                let named: Vec<&str> = operation["security"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{method} {path}: no security"))
                    .iter()
                    .filter_map(|s| s.as_object().and_then(|o| o.keys().next()).map(String::as_str))
                    .collect();
                let expected: Vec<&str> = match required_role(path) {
                    None => vec![],
                    Some(Role::Service) => vec!["service"],
                    Some(Role::Admin) => vec!["admin"],
                };
                assert_eq!(named, expected, "{method} {path}");
            }
        }
    }

    #[test]
    fn roles_are_found_by_their_credential_and_admin_wins() {
        let credentials = Credentials::new(
            ["service-credential-1", "both-credential-00"],
            ["admin-credential-01", "both-credential-00"],
        );
        assert_eq!(credentials.role_of(b"service-credential-1"), Some(Role::Service));
        assert_eq!(credentials.role_of(b"admin-credential-01"), Some(Role::Admin));
        assert_eq!(credentials.role_of(b"both-credential-00"), Some(Role::Admin));
        for unknown in [&b""[..], b"service-credential-", b"service-credential-10", b"ADMIN-CREDENTIAL-01"] {
            assert_eq!(credentials.role_of(unknown), None, "{unknown:?}");
        }
        assert!(!format!("{credentials:?}").contains("credential-"), "Debug prints no credential");
    }

    #[test]
    fn the_pseudonym_key_comes_from_its_file_or_is_left_to_the_engine() {
        let dir = std::env::temp_dir().join(format!("hotcold-pseudonym-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("key"), "  a deployment secret of 32 bytes\n").unwrap();
        std::fs::write(dir.join("short"), "too short\n").unwrap();
        let entry =
            |file: Option<&str>| AuthEntry { pseudonym_key_file: file.map(PathBuf::from), ..AuthEntry::default() };
        assert_eq!(pseudonym_key(&entry(None), &dir).unwrap(), None, "none: the engine draws one");
        let key = pseudonym_key(&entry(Some("key")), &dir).unwrap();
        assert_eq!(key, PseudonymKey::from_secret(b"a deployment secret of 32 bytes"), "trimmed file bytes");
        for bad in ["short", "missing"] {
            let error = pseudonym_key(&entry(Some(bad)), &dir).unwrap_err();
            assert_eq!(error.key, "auth.pseudonym_key_file");
            assert!(!error.to_string().contains("too short"), "never the secret: {error}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn routes_are_admin_only_unless_listed() {
        assert_eq!(required_role("/healthz"), None);
        assert_eq!(required_role("/readyz"), None);
        assert_eq!(required_role("/v1/openapi.json"), None);
        assert_eq!(required_role("/v1/sessions"), Some(Role::Service));
        assert_eq!(required_role("/v1/sessions/{token}"), Some(Role::Service));
        for admin in ["/metrics", "/v1/users/{user_id}/sessions", "/v1/users/{user_id}/erase", "/v1/anything-new"] {
            assert_eq!(required_role(admin), Some(Role::Admin), "{admin}");
        }
    }

    #[test]
    fn only_a_bearer_header_carries_a_credential() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).expect("header"));
            bearer(&headers).map(<[u8]>::to_vec)
        };
        assert_eq!(with("Bearer abc"), Some(b"abc".to_vec()));
        assert_eq!(with("bearer  abc "), Some(b"abc".to_vec()));
        assert_eq!(with("Basic abc"), None);
        assert_eq!(with("Bearer "), None);
        assert_eq!(with("Bearer"), None);
        assert_eq!(bearer(&HeaderMap::new()), None);
    }

    #[test]
    fn credential_files_skip_comments_and_refuse_empty_or_short_ones() {
        let dir = std::env::temp_dir().join(format!("hotcold-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let write = |name: &str, text: &str| {
            std::fs::write(dir.join(name), text).expect("write");
            Some(PathBuf::from(name))
        };
        let entry = AuthEntry {
            disabled: false,
            service_credentials_file: write("service", "# gateway\n\n  service-credential-1  \n"),
            admin_credentials_file: write("admin", "admin-credential-01\n"),
            pseudonym_key_file: None,
        };
        let Ok(Access::Checked(credentials)) = Access::from_config(&entry, &dir) else { panic!("valid files") };
        assert_eq!(credentials.role_of(b"service-credential-1"), Some(Role::Service));
        let empty = AuthEntry { service_credentials_file: write("empty", "# nothing\n\n"), ..entry.clone() };
        let error = Access::from_config(&empty, &dir).expect_err("empty file");
        assert_eq!(error.key, "auth.service_credentials_file");
        let short = AuthEntry { admin_credentials_file: write("short", "s3cret\n"), ..entry.clone() };
        let error = Access::from_config(&short, &dir).expect_err("short credential");
        assert_eq!(error.key, "auth.admin_credentials_file");
        assert!(error.message.contains("line 1") && !error.message.contains("s3cret"), "{error}");
        let missing = AuthEntry { admin_credentials_file: Some(PathBuf::from("nope")), ..entry };
        assert!(Access::from_config(&missing, &dir).expect_err("missing").message.contains("cannot read"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
