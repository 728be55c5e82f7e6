//! gantry-runtime
