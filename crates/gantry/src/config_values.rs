//! How a key's TOML value maps to a flag's command-line text, and back, by the flag's action
//! and value type as clap describes them.

use std::any::TypeId;
use std::ffi::OsString;

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};

use super::key_args;

/// The keys of the flags `m` shows typed on the command line, valued as a file would hold
/// them: what `gantry agent install -- FLAGS` writes into agent.toml.
pub fn given_to_table(sub: &Command, m: &ArgMatches) -> toml::Table {
    let typed = |want: Scalar, raw: &str| {
        match want {
            Scalar::Int => raw.parse().map(toml::Value::Integer).ok(),
            Scalar::Float => raw.parse().map(toml::Value::Float).ok(),
            Scalar::Bool => raw.parse().map(toml::Value::Boolean).ok(),
            Scalar::Str => None,
        }
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
    };
    let mut table = toml::Table::new();
    for arg in key_args(sub) {
        let (id, Some(key)) = (arg.get_id().as_str(), arg.get_long()) else {
            continue;
        };
        if m.value_source(id) != Some(ValueSource::CommandLine) {
            continue;
        }
        let raws: Vec<String> = m
            .get_raw(id)
            .map(|v| v.map(|s| s.to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        let value = match kind(arg) {
            Kind::Switch => toml::Value::Boolean(!matches!(arg.get_action(), ArgAction::SetFalse)),
            Kind::One(want) => typed(want, raws.first().map_or("", String::as_str)),
            Kind::List(want) => toml::Value::Array(raws.iter().map(|r| typed(want, r)).collect()),
        };
        table.insert(key.to_string(), value);
    }
    table
}

/// What a key's value must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// A switch: true or false.
    Switch,
    One(Scalar),
    List(Scalar),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scalar {
    Str,
    Int,
    Float,
    Bool,
}

impl Scalar {
    fn name(self) -> &'static str {
        match self {
            Scalar::Str => "a string",
            Scalar::Int => "an integer",
            Scalar::Float => "a number",
            Scalar::Bool => "true or false",
        }
    }

    fn plural(self) -> &'static str {
        match self {
            Scalar::Str => "an array of strings",
            Scalar::Int => "an array of integers",
            Scalar::Float => "an array of numbers",
            Scalar::Bool => "an array of booleans",
        }
    }
}

pub(super) fn kind(arg: &Arg) -> Kind {
    let t = arg.get_value_parser().type_id();
    let ints = [
        TypeId::of::<u8>(),
        TypeId::of::<u16>(),
        TypeId::of::<u32>(),
        TypeId::of::<u64>(),
        TypeId::of::<usize>(),
        TypeId::of::<i8>(),
        TypeId::of::<i16>(),
        TypeId::of::<i32>(),
        TypeId::of::<i64>(),
        TypeId::of::<isize>(),
    ];
    let scalar = if ints.iter().any(|i| t == *i) {
        Scalar::Int
    } else if t == TypeId::of::<f64>() || t == TypeId::of::<f32>() {
        Scalar::Float
    } else if t == TypeId::of::<bool>() {
        Scalar::Bool
    } else {
        Scalar::Str
    };
    match arg.get_action() {
        ArgAction::SetTrue | ArgAction::SetFalse | ArgAction::Count => Kind::Switch,
        ArgAction::Append => Kind::List(scalar),
        _ if arg.get_num_args().is_some_and(|r| r.max_values() > 1) => Kind::List(scalar),
        _ => Kind::One(scalar),
    }
}

/// One scalar as the text clap parses, or what was wrong with it.
fn scalar_text(want: Scalar, v: &toml::Value) -> Option<String> {
    match (want, v) {
        (Scalar::Str, toml::Value::String(s)) => Some(s.clone()),
        (Scalar::Int, toml::Value::Integer(i)) => Some(i.to_string()),
        (Scalar::Float, toml::Value::Integer(i)) => Some(i.to_string()),
        (Scalar::Float, toml::Value::Float(f)) => Some(f.to_string()),
        (Scalar::Bool, toml::Value::Boolean(b)) => Some(b.to_string()),
        _ => None,
    }
}

/// The command-line arguments of one key.
pub(super) fn values(arg: &Arg, key: &str, v: &toml::Value) -> Result<Vec<OsString>, String> {
    let found = |v: &toml::Value| format!("found {} {v}", v.type_str());
    let texts = match kind(arg) {
        Kind::Switch => {
            return match v {
                toml::Value::Boolean(true) => Ok(vec![format!("--{key}").into()]),
                toml::Value::Boolean(false) => Ok(Vec::new()),
                other => Err(format!("{key}: expected true or false, {}", found(other))),
            }
        }
        Kind::One(want) => vec![scalar_text(want, v)
            .ok_or_else(|| format!("{key}: expected {}, {}", want.name(), found(v)))?],
        Kind::List(want) => {
            let toml::Value::Array(items) = v else {
                return Err(format!("{key}: expected {}, {}", want.plural(), found(v)));
            };
            items
                .iter()
                .map(|i| {
                    scalar_text(want, i)
                        .ok_or_else(|| format!("{key}: expected {}, {}", want.plural(), found(i)))
                })
                .collect::<Result<_, _>>()?
        }
    };
    texts
        .into_iter()
        .map(|t| {
            check_value(arg, key, &t)?;
            Ok(format!("--{key}={t}").into())
        })
        .collect()
}

/// Runs the flag's own parser on a value from the file, so its error names the file and key.
fn check_value(arg: &Arg, key: &str, text: &str) -> Result<(), String> {
    let parts: Vec<&str> = match arg.get_value_delimiter() {
        Some(d) => text.split(d).collect(),
        None => vec![text],
    };
    // The flag alone, without the relations to others a lone command could not resolve.
    let lone = Command::new("config").no_binary_name(true).arg(
        Arg::new("v")
            .long("v")
            .action(ArgAction::Set)
            .value_parser(arg.get_value_parser().clone()),
    );
    for part in parts {
        if let Err(e) = lone.clone().try_get_matches_from([format!("--v={part}")]) {
            let why = std::error::Error::source(&e)
                .map(|s| format!(": {s}"))
                .unwrap_or_else(|| {
                    let names: Vec<String> = arg
                        .get_possible_values()
                        .iter()
                        .map(|p| p.get_name().to_string())
                        .collect();
                    if names.is_empty() {
                        String::new()
                    } else {
                        format!(" (one of {})", names.join(", "))
                    }
                });
            return Err(format!("{key}: invalid value {part:?}{why}"));
        }
    }
    Ok(())
}
