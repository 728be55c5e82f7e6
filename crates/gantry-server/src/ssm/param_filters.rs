//! `ParameterFilters` (`ParameterStringFilter`: Key, Option, Values) and DescribeParameters'
//! older `Filters` (`ParametersFilter`), matched against a parameter's latest version.

use serde::Deserialize;

use super::param_errors::{invalid_filter_key, invalid_filter_option, invalid_filter_value};
use super::param_records::{ParameterRecord, DEFAULT_KEY_ID};
use crate::error::Result;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StringFilter {
    pub key: String,
    pub option: Option<String>,
    #[serde(default)]
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OldFilter {
    pub key: String,
    #[serde(default)]
    pub values: Vec<String>,
}

/// Where a filter list is used: GetParametersByPath takes no Name or Path filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Describe,
    ByPath,
}

fn options(key: &str, place: Place) -> &'static [&'static str] {
    match key {
        "Name" if place == Place::Describe => &["Equals", "BeginsWith", "Contains"],
        "Path" => &["Recursive", "OneLevel"],
        "Type" | "KeyId" | "Tier" | "DataType" => &["Equals", "BeginsWith"],
        _ => &["Equals"],
    }
}

/// Refuses what the service refuses: unknown keys, options a key has not, missing values.
pub fn check(filters: &[StringFilter], place: Place) -> Result<()> {
    for f in filters {
        let known = f.key.starts_with("tag:")
            || matches!(
                f.key.as_str(),
                "Type" | "KeyId" | "Label" | "Tier" | "DataType"
            )
            || (place == Place::Describe && matches!(f.key.as_str(), "Name" | "Path"));
        if !known {
            return Err(invalid_filter_key(format!(
                "The following filter key is not valid: {}. Valid filter keys include: [{}].",
                f.key,
                if place == Place::Describe {
                    "Name, Path, Type, KeyId, Label, Tier, DataType, tag:<key>"
                } else {
                    "Type, KeyId, Label, Tier, DataType, tag:<key>"
                }
            )));
        }
        let opts = options(&f.key, place);
        if let Some(o) = &f.option {
            if !opts.contains(&o.as_str()) {
                return Err(invalid_filter_option(format!(
                    "The following filter option is not valid: {o}. Valid options include: [{}].",
                    opts.join(", ")
                )));
            }
        }
        if f.values.is_empty() && !f.key.starts_with("tag:") {
            return Err(invalid_filter_value(format!(
                "The following filter values are missing : null for filter key {}.",
                f.key
            )));
        }
        if f.values.len() > 50 {
            return Err(invalid_filter_value(format!(
                "The filter {} has more than 50 values.",
                f.key
            )));
        }
    }
    Ok(())
}

/// Is `name` in the hierarchy under `path` (directly, or at any depth when `recursive`)?
pub fn under(path: &str, name: &str, recursive: bool) -> bool {
    let base = if path.ends_with('/') {
        path.to_string()
    } else {
        format!("{path}/")
    };
    match name.strip_prefix(&base) {
        Some(rest) if !rest.is_empty() => recursive || !rest.contains('/'),
        _ => false,
    }
}

fn text_match(option: &str, have: &str, want: &str) -> bool {
    match option {
        "BeginsWith" => have.starts_with(want),
        "Contains" => have.contains(want),
        _ => have == want,
    }
}

pub fn matches(p: &ParameterRecord, f: &StringFilter) -> bool {
    let Some(v) = p.latest() else { return false };
    let option = f.option.as_deref().unwrap_or(if f.key == "Path" {
        "OneLevel"
    } else {
        "Equals"
    });
    let any = |have: &str| f.values.iter().any(|w| text_match(option, have, w));
    match f.key.as_str() {
        // A Name value may leave out the leading slash.
        "Name" => f.values.iter().any(|w| {
            text_match(option, &p.name, w)
                || text_match(
                    option,
                    p.name.trim_start_matches('/'),
                    w.trim_start_matches('/'),
                )
        }),
        "Path" => f
            .values
            .iter()
            .any(|w| under(w, &p.name, option == "Recursive")),
        "Type" => any(&v.kind),
        "KeyId" => v.kind == "SecureString" && any(DEFAULT_KEY_ID),
        "Tier" => any(&v.tier),
        "DataType" => any(&v.data_type),
        "Label" => p
            .versions
            .iter()
            .any(|x| x.labels.iter().any(|l| f.values.contains(l))),
        k => {
            let tag = k.trim_start_matches("tag:");
            match p.tags.get(tag) {
                None => false,
                Some(val) => f.values.is_empty() || f.values.contains(val),
            }
        }
    }
}

/// DescribeParameters' `Filters`: Name (begins with), Type, KeyId (equal to a value).
pub fn old_matches(p: &ParameterRecord, f: &OldFilter) -> bool {
    let Some(v) = p.latest() else { return false };
    match f.key.as_str() {
        "Name" => f.values.iter().any(|w| p.name.starts_with(w.as_str())),
        "Type" => f.values.contains(&v.kind),
        "KeyId" => v.kind == "SecureString" && f.values.iter().any(|w| w == DEFAULT_KEY_ID),
        _ => false,
    }
}

pub fn check_old(filters: &[OldFilter]) -> Result<()> {
    for f in filters {
        if !matches!(f.key.as_str(), "Name" | "Type" | "KeyId") {
            return Err(invalid_filter_key(format!(
                "The following filter key is not valid: {}. Valid filter keys include: [Name, Type, KeyId].",
                f.key
            )));
        }
        if f.values.is_empty() || f.values.len() > 50 {
            return Err(invalid_filter_value(format!(
                "The filter {} needs 1 to 50 values.",
                f.key
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hierarchy_levels() {
        assert!(under("/a", "/a/b", false));
        assert!(!under("/a", "/a/b/c", false));
        assert!(under("/a/", "/a/b/c", true));
        assert!(!under("/a", "/ab", true));
        assert!(under("/", "/x", false));
        assert!(!under("/", "x", true));
    }
}
