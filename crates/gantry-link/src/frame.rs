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

/// A session's WebSocket.
pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Dials the session at `url` (see [`crate::session_url`]) with Nagle's algorithm off: a
/// report is a small write, and held back behind an unacknowledged one it waits for the
/// server's delayed ACK (40 ms on Linux) on the start path of every task.
pub async fn connect(url: &str) -> Result<Socket, LinkError> {
    let (ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true).await?;
    Ok(ws)
}

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
