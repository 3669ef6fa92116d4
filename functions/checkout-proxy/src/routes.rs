//! The API's routes (the README's checkout-proxy section): a path and method to a [`Route`], or the 404 / 405 problem.

use crate::checkout::Problem;

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `POST /v1/checkout`.
    Checkout,
    /// `POST /v1/borrow`.
    Borrow,
    /// `POST /v1/extend`.
    Extend,
    /// `POST /v1/checkin`.
    CheckIn,
    /// `GET /v1/licenses`.
    Licenses,
    /// `GET /v1/licenses/{licenseId}/usage`, with the id percent-decoded.
    Usage(String),
    /// `GET /v1/leases`: the caller's live leases.
    Leases,
    /// `DELETE /v1/leases/{leaseId}`: frees one of the caller's leases.
    Release(String),
    /// `GET /v1/keys`: the keys that sign the issuer's tokens (JWKS).
    Keys,
}

impl Route {
    /// The route's name in logs and ClientTokens.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Checkout => "checkout",
            Self::Borrow => "borrow",
            Self::Extend => "extend",
            Self::CheckIn => "checkin",
            Self::Licenses => "licenses",
            Self::Usage(_) => "usage",
            Self::Leases => "leases",
            Self::Release(_) => "release",
            Self::Keys => "keys",
        }
    }
}

/// The route of `method` on the raw (percent-encoded) `path`: 404 for a path that is no
/// route, 405 (with the allowed method) for a route's path with another method.
pub fn route(method: &str, path: &str) -> Result<Route, Problem> {
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
    let (route, allowed) = match segments.as_slice() {
        ["v1", "checkout"] => (Route::Checkout, "POST"),
        ["v1", "borrow"] => (Route::Borrow, "POST"),
        ["v1", "extend"] => (Route::Extend, "POST"),
        ["v1", "checkin"] => (Route::CheckIn, "POST"),
        ["v1", "licenses"] => (Route::Licenses, "GET"),
        ["v1", "licenses", id, "usage"] if !id.is_empty() => {
            let id = percent_encoding::percent_decode_str(id)
                .decode_utf8_lossy()
                .into_owned();
            (Route::Usage(id), "GET")
        }
        ["v1", "leases"] => (Route::Leases, "GET"),
        ["v1", "leases", id] if !id.is_empty() => (Route::Release((*id).to_owned()), "DELETE"),
        ["v1", "keys"] => (Route::Keys, "GET"),
        _ => return Err(Problem::route_not_found(path)),
    };
    if method.eq_ignore_ascii_case(allowed) {
        Ok(route)
    } else {
        Err(Problem::method_not_allowed(method, path, allowed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_route_has_one_method() {
        assert_eq!(route("POST", "/v1/checkout"), Ok(Route::Checkout));
        assert_eq!(route("POST", "/v1/borrow"), Ok(Route::Borrow));
        assert_eq!(route("POST", "/v1/extend"), Ok(Route::Extend));
        assert_eq!(route("POST", "/v1/checkin"), Ok(Route::CheckIn));
        assert_eq!(route("GET", "/v1/licenses"), Ok(Route::Licenses));
        assert_eq!(
            route(
                "GET",
                "/v1/licenses/arn%3Aaws%3Alicense-manager%3A%3A1%3Alicense%3Al-1/usage"
            ),
            Ok(Route::Usage(
                "arn:aws:license-manager::1:license:l-1".into()
            ))
        );
        assert_eq!(route("GET", "/v1/leases"), Ok(Route::Leases));
        assert_eq!(
            route("DELETE", "/v1/leases/ab12"),
            Ok(Route::Release("ab12".into()))
        );
        assert_eq!(route("GET", "/v1/keys"), Ok(Route::Keys));
        assert_eq!(
            route("GET", "/v1/leases/ab12").unwrap_err().allow,
            Some("DELETE")
        );
        let problem = route("GET", "/v1/checkout").unwrap_err();
        assert_eq!((problem.status, problem.allow), (405, Some("POST")));
        assert_eq!(
            route("DELETE", "/v1/licenses").unwrap_err().allow,
            Some("GET")
        );
    }

    #[test]
    fn other_paths_are_not_found() {
        for path in [
            "/",
            "/v1",
            "/v1/checkout/",
            "/v2/checkout",
            "/v1/licenses//usage",
            "/v1/licenses/l-1",
            "/v1/leases/",
            "/v1/leases/a/b",
            "/v1/keys/1",
        ] {
            let problem = route("POST", path).unwrap_err();
            assert_eq!(
                (problem.status, problem.code),
                (404, "route-not-found"),
                "{path}"
            );
        }
    }
}
