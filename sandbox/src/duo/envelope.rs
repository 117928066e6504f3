//! Duo's response envelope: `{"stat":"OK","response":…}` or
//! `{"stat":"FAIL","code":…,"message":…,"message_detail":…}`.

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{Value, json};

/// A `200 OK` with `{"stat":"OK","response":…}`.
pub(crate) fn ok(response: Value) -> Response {
    json_response(StatusCode::OK, &json!({"stat": "OK", "response": response}))
}

/// A failure in Duo's shape.
pub(crate) fn fail(status: StatusCode, code: u32, message: &str, detail: Option<&str>) -> Response {
    let mut body = json!({"stat": "FAIL", "code": code, "message": message});
    if let Some(detail) = detail {
        body["message_detail"] = Value::String(detail.to_owned());
    }
    json_response(status, &body)
}

pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(http::header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}
