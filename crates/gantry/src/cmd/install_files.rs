//! The files `gantry agent install` writes, each whole or not at all, with its mode from the
//! first byte.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use super::{io, under, InstallError, Plan, BINARY, CONFIG, UNIT, UNIT_LINK, UNIT_TEXT};

/// agent.toml's text.
pub fn config_text(config: &toml::Table) -> String {
    let body = toml::to_string(config).unwrap_or_default();
    format!("# Written by `gantry agent install`. The keys are the flags of `gantry agent` (docs/install.md).\n{body}")
}

/// The binary, agent.toml, the unit and its enabling symlink, each written whole or not at all.
pub fn write_files(plan: &Plan) -> Result<(), InstallError> {
    let bin = under(&plan.root, BINARY);
    let config = under(&plan.root, CONFIG);
    let unit = under(&plan.root, UNIT);
    for (dir, mode) in [
        (bin.parent(), 0o755),
        (config.parent(), 0o700),
        (unit.parent(), 0o755),
        (Some(under(&plan.root, &plan.state_dir).as_path()), 0o700),
    ] {
        let Some(dir) = dir else { continue };
        std::fs::create_dir_all(dir).map_err(io("create", dir))?;
        if mode == 0o700 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
                .map_err(io("set the mode of", dir))?;
        }
    }
    copy_binary(&plan.binary, &bin)?;
    write_atomic(&config, config_text(&plan.config).as_bytes(), 0o600)?;
    write_atomic(&unit, UNIT_TEXT.as_bytes(), 0o644)?;
    if plan.systemctl.is_none() {
        let link = under(&plan.root, UNIT_LINK);
        if let Some(dir) = link.parent() {
            std::fs::create_dir_all(dir).map_err(io("create", dir))?;
        }
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(UNIT, &link).map_err(io("link", &link))?;
    }
    Ok(())
}

/// Copies the binary next to its place and renames it there: a running agent keeps its old
/// inode, and nobody ever sees half a binary.
fn copy_binary(src: &Path, dst: &Path) -> Result<(), InstallError> {
    let same =
        |a: &std::fs::Metadata, b: &std::fs::Metadata| a.dev() == b.dev() && a.ino() == b.ino();
    if let (Ok(s), Ok(d)) = (std::fs::metadata(src), std::fs::metadata(dst)) {
        if same(&s, &d) {
            return Ok(());
        }
    }
    let tmp = dst.with_file_name(format!(".gantry.install-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let copied = std::fs::copy(src, &tmp)
        .and_then(|_| std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)))
        .and_then(|()| std::fs::File::open(&tmp)?.sync_all())
        .and_then(|()| std::fs::rename(&tmp, dst));
    copied.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        InstallError::Io {
            what: "install the binary at",
            path: dst.to_path_buf(),
            source: e,
        }
    })
}

/// Writes `path` with `mode` from its first byte (never briefly readable by others),
/// atomically and durably.
pub fn write_atomic(path: &Path, body: &[u8], mode: u32) -> Result<(), InstallError> {
    gantry_server::atomic_file::write(path, body, mode).map_err(|e| InstallError::Io {
        what: "write",
        path: path.to_path_buf(),
        source: e,
    })
}
