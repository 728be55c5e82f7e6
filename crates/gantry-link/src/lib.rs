//! The agent's end of the agent<->server link: the URLs it dials (registration, the session
//! WebSocket), the frames it sends and reads there, and a simulated fleet of agents built on
//! the same code, for measuring the control plane at scale without running containers.
//!
//! Both the real agent (`gantry-agent`'s session) and the simulated one use this crate, so
//! the wire handling exists once. It depends only on `gantry-api` and the networking crates:
//! the server's tests link it without linking the container runtime. It must never hold
//! node state or run containers.

mod frame;
mod register;
pub mod sim;
mod url;

pub use frame::{connect, now, parse, send, LinkError, Sink, Socket};
pub use register::{register, RegisterError};
pub use url::{register_url, session_url};
