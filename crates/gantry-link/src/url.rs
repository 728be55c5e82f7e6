//! Where an agent dials: `http(s)://host:port` becomes the register URL and the session's
//! `ws(s)://` URL.

use gantry_api::protocol::{REGISTER_PATH, SESSION_PATH};

/// `POST` here to register (`<server>/agent/v1/register`).
pub fn register_url(server_url: &str) -> String {
    format!("{}{REGISTER_PATH}", server_url.trim_end_matches('/'))
}

/// The WebSocket URL of `instance_id`'s session: `https` becomes `wss`, `http` (or no
/// scheme) `ws`.
pub fn session_url(server_url: &str, instance_id: &str) -> String {
    let base = server_url.trim_end_matches('/');
    let ws = if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        format!("ws://{base}")
    };
    format!("{ws}{SESSION_PATH}?instance={instance_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_map_to_websocket_schemes() {
        assert_eq!(
            session_url("http://h:1/", "i-1"),
            "ws://h:1/agent/v1/session?instance=i-1"
        );
        assert_eq!(
            session_url("https://h", "i"),
            "wss://h/agent/v1/session?instance=i"
        );
        assert_eq!(
            session_url("h:2", "i"),
            "ws://h:2/agent/v1/session?instance=i"
        );
        assert_eq!(register_url("http://h:1/"), "http://h:1/agent/v1/register");
    }
}
