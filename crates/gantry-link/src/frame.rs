//! Frames on the session: JSON text messages `{"type", "message"}` (`gantry_api::protocol`).

use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::SinkExt;
use gantry_api::protocol::{AgentFrame, ServerFrame};
use gantry_api::Timestamp;
use tokio_tungstenite::tungstenite::{self, Message};

pub type LinkError = tungstenite::Error;

/// The sending half of a session.
pub trait Sink: SinkExt<Message, Error = LinkError> + Unpin {}
impl<S: SinkExt<Message, Error = LinkError> + Unpin> Sink for S {}

/// Sends one frame.
pub async fn send<S: Sink>(tx: &mut S, frame: &AgentFrame) -> Result<(), LinkError> {
    // An AgentFrame is plain data: serializing it cannot fail.
    let text = serde_json::to_string(frame).unwrap_or_default();
    tx.send(Message::Text(text.into())).await
}

/// Reads one server frame from a text message.
pub fn parse(text: &str) -> Result<ServerFrame, serde_json::Error> {
    serde_json::from_str(text)
}

/// Seconds since the epoch, as the protocol's timestamps carry them.
pub fn now() -> Timestamp {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
