//! gantry-server
