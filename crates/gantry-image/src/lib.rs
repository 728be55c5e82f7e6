//! gantry-image
