//! The agent's end of the agent<->server link: the URLs it dials (registration, the session
//! WebSocket), the frames it sends and reads there, the SigV4 signer every client of the
//! control plane signs with, and a simulated fleet of agents built on the same code, for
//! measuring the control plane at scale without running containers.
//!
//! An agent signs with its node credential ([`NodeSigner`], issued when it [`Link::join`]s);
//! an access key ([`sign::Signer`]) is for the CLI and for tests.
//!
//! Both the real agent (`gantry-agent`'s session) and the simulated one use this crate, so
//! the wire handling exists once; the `gantry` CLI and the test harness sign with
//! [`sign::Signer`] too. It depends only on `gantry-api` and the networking crates: the
//! server's tests link it without linking the container runtime. It must never hold node
//! state or run containers.

mod frame;
mod join;
mod link;
pub mod node;
mod register;
mod servers;
pub mod sign;
pub mod sim;
#[doc(hidden)]
pub mod testing;
mod url;

pub use frame::{connect, now, parse, send, LinkError, Sink, Socket};
pub use join::{fetch_ca_pinned, JoinError, Joined, PinError, CA_PATH};
pub use link::{https_client, Link, SetupError, CONNECT_TIMEOUT};
pub use node::{NodeError, NodeIdentity, NodeKey, NodeSigner};
pub use register::{register, RegisterError};
pub use servers::{Backoff, Current, Servers, ServersError};
pub use sign::{Credentials, Signer};
pub use url::{register_url, session_url};
