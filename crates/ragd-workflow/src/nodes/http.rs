//! `http-request`: sends one HTTP request built from templates (url, `k:v` header and param lines, body,
//! authorization) and outputs `status_code`, `body` (text, cut at `http_max_response_bytes`) and
//! `headers`. A non-2xx answer is a result, not an error (as in Dify); a connection error fails the node.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::dsl::{self, Text};
use super::{NodeContext, NodeFailure, NodeSuccess};
use crate::WorkflowError;
use crate::template::{Selector, Template};

/// Dify's default timeouts, in seconds.
const DEFAULT_CONNECT_SECS: f64 = 10.0;
const DEFAULT_READ_SECS: f64 = 60.0;

#[derive(Debug, Deserialize)]
struct RawHttp {
    #[serde(default, deserialize_with = "dsl::opt_text")]
    method: Option<String>,
    #[serde(default, deserialize_with = "dsl::nullable")]
    url: String,
    #[serde(default, deserialize_with = "dsl::nullable")]
    headers: String,
    #[serde(default, deserialize_with = "dsl::nullable")]
    params: String,
    #[serde(default)]
    body: Option<RawBody>,
    #[serde(default)]
    authorization: Option<RawAuthorization>,
    #[serde(default)]
    timeout: Option<RawTimeout>,
}

#[derive(Debug, Deserialize)]
struct RawBody {
    #[serde(default, rename = "type", deserialize_with = "dsl::opt_text")]
    kind: Option<String>,
    #[serde(default)]
    data: Value,
}

#[derive(Debug, Deserialize)]
struct RawBodyItem {
    #[serde(default, deserialize_with = "dsl::nullable")]
    key: Text,
    #[serde(default, rename = "type", deserialize_with = "dsl::opt_text")]
    kind: Option<String>,
    #[serde(default, deserialize_with = "dsl::nullable")]
    value: Text,
}

#[derive(Debug, Deserialize)]
struct RawAuthorization {
    #[serde(default, rename = "type", deserialize_with = "dsl::opt_text")]
    kind: Option<String>,
    #[serde(default)]
    config: Option<RawAuthConfig>,
}

#[derive(Debug, Deserialize)]
struct RawAuthConfig {
    #[serde(default, rename = "type", deserialize_with = "dsl::opt_text")]
    kind: Option<String>,
    #[serde(default, deserialize_with = "dsl::opt_text")]
    api_key: Option<String>,
    #[serde(default, deserialize_with = "dsl::opt_text")]
    header: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawTimeout {
    #[serde(default, deserialize_with = "dsl::opt_number")]
    connect: Option<f64>,
    #[serde(default, deserialize_with = "dsl::opt_number")]
    read: Option<f64>,
}

/// The request body.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    None,
    Json(Template),
    RawText(Template),
    UrlEncoded(Vec<(Template, Template)>),
    FormData(Vec<(Template, Template)>),
}

/// How the request authenticates.
#[derive(Debug, Clone)]
pub(crate) enum Auth {
    None,
    Basic(Template),
    Bearer(Template),
    Custom { header: String, value: Template },
}

/// The http-request node's configuration.
#[derive(Debug, Clone)]
pub(crate) struct HttpNode {
    pub method: Method,
    pub url: Template,
    pub headers: Vec<(Template, Template)>,
    pub params: Vec<(Template, Template)>,
    pub body: Body,
    pub auth: Auth,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
}

/// `k:v` lines (Dify's headers and params); a line without `:` is a key with an empty value.
fn parse_lines(text: &str) -> Vec<(Template, Template)> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| {
            let (key, value) = line.split_once(':').unwrap_or((line, ""));
            (
                Template::parse(key.trim(), false),
                Template::parse(value.trim(), false),
            )
        })
        .collect()
}

impl HttpNode {
    pub fn parse(node_id: &str, title: &str, data: &Value) -> Result<HttpNode, WorkflowError> {
        let raw: RawHttp = dsl::parse_data(node_id, title, data)?;
        let method_text = raw
            .method
            .unwrap_or_else(|| "get".into())
            .to_ascii_uppercase();
        let method = match method_text.as_str() {
            "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS" => {
                Method::from_bytes(method_text.as_bytes()).expect("standard method")
            }
            other => {
                return Err(dsl::invalid(
                    node_id,
                    title,
                    format!("method `{other}` is not supported"),
                ));
            }
        };
        if raw.url.trim().is_empty() {
            return Err(dsl::invalid(node_id, title, "url is empty"));
        }
        let body = match raw.body {
            None => Body::None,
            Some(body) => parse_body(node_id, title, body)?,
        };
        let auth = match raw.authorization {
            None => Auth::None,
            Some(authorization) => parse_auth(node_id, title, authorization)?,
        };
        let timeout = raw.timeout.unwrap_or(RawTimeout {
            connect: None,
            read: None,
        });
        let seconds = |value: Option<f64>, default: f64| {
            Duration::from_secs_f64(value.filter(|s| *s > 0.0).unwrap_or(default))
        };
        Ok(HttpNode {
            method,
            url: Template::parse(raw.url.trim(), false),
            headers: parse_lines(&raw.headers),
            params: parse_lines(&raw.params),
            body,
            auth,
            connect_timeout: seconds(timeout.connect, DEFAULT_CONNECT_SECS),
            read_timeout: seconds(timeout.read, DEFAULT_READ_SECS),
        })
    }

    pub fn templates(&self) -> Vec<&Template> {
        let mut templates = vec![&self.url];
        for (key, value) in self.headers.iter().chain(&self.params) {
            templates.extend([key, value]);
        }
        match &self.body {
            Body::None => {}
            Body::Json(template) | Body::RawText(template) => templates.push(template),
            Body::UrlEncoded(pairs) | Body::FormData(pairs) => {
                for (key, value) in pairs {
                    templates.extend([key, value]);
                }
            }
        }
        match &self.auth {
            Auth::None => {}
            Auth::Basic(template)
            | Auth::Bearer(template)
            | Auth::Custom {
                value: template, ..
            } => templates.push(template),
        }
        templates
    }

    pub fn selectors(&self) -> Vec<&Selector> {
        self.templates()
            .into_iter()
            .flat_map(|template| template.selectors())
            .collect()
    }
}

fn parse_body(node_id: &str, title: &str, body: RawBody) -> Result<Body, WorkflowError> {
    let kind = body.kind.unwrap_or_else(|| "none".into());
    let items: Vec<RawBodyItem> = match &body.data {
        Value::Array(_) => dsl::parse_data(node_id, title, &body.data)?,
        _ => Vec::new(),
    };
    if items
        .iter()
        .any(|item| item.kind.as_deref() == Some("file"))
    {
        return Err(dsl::invalid(
            node_id,
            title,
            "file parts in an HTTP body are not supported",
        ));
    }
    let text = match &body.data {
        Value::String(text) => text.clone(),
        Value::Array(_) => items
            .first()
            .map(|item| item.value.0.clone())
            .unwrap_or_default(),
        _ => String::new(),
    };
    let pairs = || -> Vec<(Template, Template)> {
        if matches!(body.data, Value::Array(_)) {
            items
                .iter()
                .filter(|item| !item.key.0.is_empty())
                .map(|item| {
                    (
                        Template::parse(&item.key.0, false),
                        Template::parse(&item.value.0, false),
                    )
                })
                .collect()
        } else {
            parse_lines(&text)
        }
    };
    Ok(match kind.as_str() {
        "none" | "" => Body::None,
        "json" => Body::Json(Template::parse(&text, false)),
        "raw-text" => Body::RawText(Template::parse(&text, false)),
        "x-www-form-urlencoded" => Body::UrlEncoded(pairs()),
        "form-data" => Body::FormData(pairs()),
        other => {
            return Err(dsl::invalid(
                node_id,
                title,
                format!("body type `{other}` is not supported"),
            ));
        }
    })
}

fn parse_auth(
    node_id: &str,
    title: &str,
    authorization: RawAuthorization,
) -> Result<Auth, WorkflowError> {
    match authorization.kind.as_deref() {
        None | Some("") | Some("no-auth") => Ok(Auth::None),
        Some("api-key") => {
            let config = authorization.config.ok_or_else(|| {
                dsl::invalid(node_id, title, "api-key authorization has no config")
            })?;
            let key = Template::parse(&config.api_key.unwrap_or_default(), false);
            match config.kind.as_deref() {
                Some("basic") => Ok(Auth::Basic(key)),
                None | Some("") | Some("bearer") => Ok(Auth::Bearer(key)),
                Some("custom") => Ok(Auth::Custom {
                    header: config
                        .header
                        .filter(|h| !h.is_empty())
                        .unwrap_or_else(|| "Authorization".into()),
                    value: key,
                }),
                Some(other) => Err(dsl::invalid(
                    node_id,
                    title,
                    format!("api-key type `{other}` is not supported"),
                )),
            }
        }
        Some(other) => Err(dsl::invalid(
            node_id,
            title,
            format!("authorization type `{other}` is not supported"),
        )),
    }
}

/// Standard base64 (for Basic credentials given as `user:password`).
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> shift) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `application/x-www-form-urlencoded` text of the pairs.
fn form_encode(pairs: &[(String, String)]) -> String {
    let mut url = Url::parse("http://form.invalid/").expect("static URL parses");
    url.query_pairs_mut().extend_pairs(pairs);
    url.query().unwrap_or_default().to_string()
}

fn render_pairs(pairs: &[(Template, Template)], context: &NodeContext) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(key, value)| (key.render(&context.pool), value.render(&context.pool)))
        .filter(|(key, _)| !key.is_empty())
        .collect()
}

/// The request as text, for `process_data.request` (as Dify shows it).
fn request_text(method: &Method, url: &Url, headers: &HeaderMap, body: &[u8]) -> String {
    let mut text = format!("{method} {url} HTTP/1.1\r\n");
    for (name, value) in headers {
        text.push_str(&format!(
            "{name}: {}\r\n",
            String::from_utf8_lossy(value.as_bytes())
        ));
    }
    text.push_str("\r\n");
    text.push_str(&String::from_utf8_lossy(&body[..body.len().min(4096)]));
    text
}

pub(crate) async fn run(
    context: &NodeContext,
    config: &HttpNode,
) -> Result<NodeSuccess, NodeFailure> {
    let url_text = config.url.render(&context.pool);
    let mut url = Url::parse(&url_text)
        .map_err(|error| NodeFailure::new(format!("invalid URL `{url_text}`: {error}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(NodeFailure::new(format!(
            "URL `{url_text}` is not http or https"
        )));
    }
    let params = render_pairs(&config.params, context);
    if !params.is_empty() {
        url.query_pairs_mut().extend_pairs(&params);
    }
    let mut headers = HeaderMap::new();
    for (key, value) in render_pairs(&config.headers, context) {
        let name = HeaderName::from_bytes(key.as_bytes())
            .map_err(|_| NodeFailure::new(format!("invalid header name `{key}`")))?;
        let value = HeaderValue::from_str(&value)
            .map_err(|_| NodeFailure::new(format!("invalid value for header `{key}`")))?;
        headers.append(name, value);
    }
    let authorization = match &config.auth {
        Auth::None => None,
        Auth::Basic(key) => {
            let key = key.render(&context.pool);
            let credentials = if key.contains(':') {
                base64(key.as_bytes())
            } else {
                key
            };
            Some((AUTHORIZATION, format!("Basic {credentials}")))
        }
        Auth::Bearer(key) => Some((
            AUTHORIZATION,
            format!("Bearer {}", key.render(&context.pool)),
        )),
        Auth::Custom { header, value } => {
            let name = HeaderName::from_bytes(header.as_bytes()).map_err(|_| {
                NodeFailure::new(format!("invalid authorization header name `{header}`"))
            })?;
            Some((name, value.render(&context.pool)))
        }
    };
    if let Some((name, value)) = authorization {
        let value = HeaderValue::from_str(&value)
            .map_err(|_| NodeFailure::new("the API key is not a valid header value"))?;
        headers.insert(name, value);
    }
    let (body, content_type): (Vec<u8>, Option<String>) = match &config.body {
        Body::None => (Vec::new(), None),
        Body::Json(template) => {
            let text = template.render(&context.pool);
            if !text.trim().is_empty() {
                serde_json::from_str::<Value>(&text).map_err(|error| {
                    NodeFailure::new(format!("the JSON body is not valid JSON: {error}"))
                })?;
            }
            (text.into_bytes(), Some("application/json".into()))
        }
        Body::RawText(template) => (
            template.render(&context.pool).into_bytes(),
            Some("text/plain".into()),
        ),
        Body::UrlEncoded(pairs) => (
            form_encode(&render_pairs(pairs, context)).into_bytes(),
            Some("application/x-www-form-urlencoded".into()),
        ),
        Body::FormData(pairs) => {
            let boundary = format!("ragd-{}", uuid::Uuid::new_v4().simple());
            let mut body = String::new();
            for (key, value) in render_pairs(pairs, context) {
                let key = key.replace('"', "%22");
                body.push_str(&format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{key}\"\r\n\r\n{value}\r\n"
                ));
            }
            body.push_str(&format!("--{boundary}--\r\n"));
            (
                body.into_bytes(),
                Some(format!("multipart/form-data; boundary={boundary}")),
            )
        }
    };
    if let Some(content_type) = content_type
        && !headers.contains_key(CONTENT_TYPE)
    {
        let value = HeaderValue::from_str(&content_type).expect("content types are ASCII");
        headers.insert(CONTENT_TYPE, value);
    }
    let process_data = json!({ "request": request_text(&config.method, &url, &headers, &body) });
    let failure =
        |message: String| NodeFailure::new(message).with_process_data(process_data.clone());

    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(context.services.tls.clone())
        .connect_timeout(config.connect_timeout)
        .read_timeout(config.read_timeout)
        .build()
        .map_err(|error| failure(format!("cannot build the HTTP client: {error}")))?;
    let mut request = client
        .request(config.method.clone(), url.clone())
        .headers(headers);
    if !body.is_empty() {
        request = request.body(body);
    }
    let mut response = request
        .send()
        .await
        .map_err(|error| failure(format!("request to {url} failed: {}", error_chain(&error))))?;

    let status = response.status().as_u16();
    let mut response_headers = Map::new();
    for (name, value) in response.headers() {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match response_headers.get_mut(name.as_str()) {
            Some(Value::String(previous)) => {
                previous.push_str(", ");
                previous.push_str(&value);
            }
            _ => {
                response_headers.insert(name.as_str().to_string(), json!(value));
            }
        }
    }
    let limit = context.services.config.http_max_response_bytes;
    let mut bytes = Vec::new();
    let mut truncated = false;
    while let Some(chunk) = response.chunk().await.map_err(|error| {
        failure(format!(
            "reading the answer of {url} failed: {}",
            error_chain(&error)
        ))
    })? {
        let room = limit.saturating_sub(bytes.len());
        if chunk.len() > room {
            bytes.extend_from_slice(&chunk[..room]);
            truncated = true;
            break;
        }
        bytes.extend_from_slice(&chunk);
    }
    let body_text = utf8_prefix(bytes);

    let mut outputs = Map::new();
    outputs.insert("status_code".into(), json!(status));
    outputs.insert("body".into(), json!(body_text));
    outputs.insert("headers".into(), Value::Object(response_headers));
    outputs.insert("files".into(), json!([]));
    let mut process_data = process_data;
    process_data["truncated"] = json!(truncated);
    Ok(NodeSuccess {
        process_data,
        outputs,
        ..NodeSuccess::default()
    })
}

/// The text of `bytes`, without a character cut in two at the end; other invalid bytes are replaced.
fn utf8_prefix(mut bytes: Vec<u8>) -> String {
    if let Err(error) = std::str::from_utf8(&bytes)
        && error.error_len().is_none()
    {
        bytes.truncate(error.valid_up_to());
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// An error with its sources (reqwest's `Display` leaves out the cause, e.g. "connection refused").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_and_form_encoding() {
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(
            form_encode(&[("a b".into(), "x&y=z".into())]),
            "a+b=x%26y%3Dz"
        );
    }

    #[test]
    fn utf8_cut() {
        let text = "héllo".as_bytes();
        assert_eq!(utf8_prefix(text[..2].to_vec()), "h");
        assert_eq!(utf8_prefix(text.to_vec()), "héllo");
    }

    #[test]
    fn parses_body_shapes() {
        let data = json!({
            "method": "post", "url": "http://x/{{#start.id#}}",
            "headers": "X-A:{{#start.a#}}\nX-B: b", "params": "q:1",
            "body": {"type": "json", "data": [{"key": "", "type": "text", "value": "{\"a\": 1}"}]},
            "authorization": {"type": "api-key", "config": {"type": "custom", "api_key": "k", "header": "X-Key"}},
            "timeout": {"connect": 3, "read": null, "write": 5}
        });
        let node = HttpNode::parse("h", "H", &data).unwrap();
        assert_eq!(node.method, Method::POST);
        assert_eq!(node.headers.len(), 2);
        assert!(matches!(node.body, Body::Json(_)));
        assert!(matches!(node.auth, Auth::Custom { .. }));
        assert_eq!(node.connect_timeout, Duration::from_secs(3));
        assert_eq!(node.read_timeout, Duration::from_secs(60));
        assert_eq!(node.selectors().len(), 2);

        let data = json!({"url": "http://x", "body": {"type": "binary", "data": []}});
        assert!(HttpNode::parse("h", "H", &data).is_err());
        let data = json!({"url": "http://x", "method": "brew"});
        assert!(HttpNode::parse("h", "H", &data).is_err());
        let data = json!({"url": "http://x", "body": {"type": "x-www-form-urlencoded", "data": "a:1\nb:2"}});
        match HttpNode::parse("h", "H", &data).unwrap().body {
            Body::UrlEncoded(pairs) => assert_eq!(pairs.len(), 2),
            other => panic!("{other:?}"),
        }
    }
}
