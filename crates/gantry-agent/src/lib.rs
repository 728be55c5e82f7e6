//! gantry-agent
