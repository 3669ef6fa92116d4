//! STS GetCallerIdentity (awsQuery: form-encoded `POST /`, XML response), answering the
//! account License Manager and KMS decide for the same credentials, so a script sees one
//! identity across services.

use axum::body::{Body, to_bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The STS API version of GetCallerIdentity.
pub const VERSION: &str = "2011-06-15";

/// Handles one awsQuery request to STS from `account`.
pub async fn handle(account: &str, body: Body) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let Ok(bytes) = to_bytes(body, crate::protocol::MAX_BODY_BYTES).await else {
        return error(
            &request_id,
            "ValidationError",
            "Request body is too large or could not be read",
        );
    };
    let action = form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| v.into_owned());
    let (status, xml) = match action.as_deref() {
        Some("GetCallerIdentity") => {
            tracing::info!(operation = "GetCallerIdentity", account = %account, status = 200, "request");
            (StatusCode::OK, caller_identity_xml(account, &request_id))
        }
        Some(other) => {
            return error(
                &request_id,
                "InvalidAction",
                &format!(
                    "STS action {other} is not implemented by license-manager-local (it answers \
                     GetCallerIdentity only)"
                ),
            );
        }
        None => {
            return error(
                &request_id,
                "MissingAction",
                "The request names no Action (expected Action=GetCallerIdentity)",
            );
        }
    };
    xml_response(status, xml)
}

/// The GetCallerIdentity answer for `account`: the account's root user.
pub fn caller_identity_xml(account: &str, request_id: &str) -> String {
    format!(
        "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/{VERSION}/\">\
         <GetCallerIdentityResult><Arn>arn:aws:iam::{account}:root</Arn>\
         <UserId>{account}</UserId><Account>{account}</Account></GetCallerIdentityResult>\
         <ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>\
         </GetCallerIdentityResponse>"
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn error(request_id: &str, code: &str, message: &str) -> Response {
    tracing::info!(operation = "STS", code, status = 400, "request");
    xml_response(
        StatusCode::BAD_REQUEST,
        format!(
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/{VERSION}/\"><Error>\
             <Type>Sender</Type><Code>{code}</Code><Message>{}</Message></Error>\
             <RequestId>{request_id}</RequestId></ErrorResponse>",
            escape(message)
        ),
    )
}

fn xml_response(status: StatusCode, xml: String) -> Response {
    let mut response = (status, xml).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    response
}
