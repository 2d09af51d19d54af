//! An SMS provider on loopback: answers Twilio's Messages API and a JSON webhook the way the
//! real services do, and keeps what it received, so tests read texted codes out of real
//! HTTP requests.

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct ReceivedText {
    pub to: String,
    pub from: Option<String>,
    pub body: String,
    /// `account_sid:auth_token` from Twilio's basic auth, or the webhook's bearer token.
    pub credentials: Option<String>,
}

impl ReceivedText {
    pub fn code(&self) -> Option<String> {
        self.body
            .split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() == 6)
            .map(str::to_string)
    }
}

#[derive(Clone)]
pub struct SmsProviderSink {
    pub base_url: String,
    received: Arc<Mutex<Vec<ReceivedText>>>,
}

async fn twilio(
    State(received): State<Arc<Mutex<Vec<ReceivedText>>>>,
    Path(account): Path<String>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> (StatusCode, Json<serde_json::Value>) {
    let credentials = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    let text = ReceivedText {
        to: form.get("To").cloned().unwrap_or_default(),
        from: form.get("From").cloned(),
        body: form.get("Body").cloned().unwrap_or_default(),
        credentials,
    };
    received.lock().unwrap().push(text);
    let sid = account.trim_end_matches(".json").to_string();
    (
        StatusCode::CREATED,
        Json(serde_json::json!({ "sid": "SM0000", "account_sid": sid, "status": "queued" })),
    )
}

#[derive(serde::Deserialize)]
struct WebhookBody {
    to: String,
    body: String,
}

async fn webhook(
    State(received): State<Arc<Mutex<Vec<ReceivedText>>>>,
    headers: HeaderMap,
    Json(payload): Json<WebhookBody>,
) -> StatusCode {
    let credentials = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    received.lock().unwrap().push(ReceivedText {
        to: payload.to,
        from: None,
        body: payload.body,
        credentials,
    });
    StatusCode::NO_CONTENT
}

impl SmsProviderSink {
    pub async fn start() -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route("/2010-04-01/Accounts/{account}/Messages.json", post(twilio))
            .route("/webhook", post(webhook))
            .with_state(Arc::clone(&received));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { base_url, received }
    }

    pub fn to(&self, number: &str) -> Vec<ReceivedText> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|t| t.to == number)
            .cloned()
            .collect()
    }

    pub fn all(&self) -> Vec<ReceivedText> {
        self.received.lock().unwrap().clone()
    }

    /// Waits (up to 10 s) for a text to `number` beyond the first `already`; its code.
    pub async fn wait_for_code(&self, number: &str, already: usize) -> String {
        for _ in 0..200 {
            let texts = self.to(number);
            if texts.len() > already {
                return texts
                    .last()
                    .and_then(ReceivedText::code)
                    .expect("a code in the text");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no new text for {number} within 10 s (had {already})");
    }
}
