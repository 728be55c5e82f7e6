//! gantry-net
