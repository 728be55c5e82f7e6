//! ECS wire types, generated from the official service model, and the validator that checks a
//! raw request against the model's constraints before it is turned into typed values.

pub mod model;
pub mod operations;
pub mod schema;
pub mod validate;

pub use operations::{Operation, OPERATIONS};

/// The operation with this name, if the model has it.
pub fn operation(name: &str) -> Option<&'static Operation> {
    OPERATIONS
        .binary_search_by(|op| op.name.cmp(name))
        .ok()
        .map(|i| &OPERATIONS[i])
}
