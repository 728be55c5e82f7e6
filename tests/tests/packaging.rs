//! The systemd units pass `systemd-analyze verify`.

use std::process::Command;

#[test]
fn systemd_units_verify() {
    let dir = gantry_tests::TempDir::new("units");
    let bin = gantry_tests::gantry_bin();
    for unit in ["gantry-server.service", "gantry-agent.service"] {
        let text =
            std::fs::read_to_string(gantry_tests::workspace().join("systemd").join(unit)).unwrap();
        assert!(text.contains("Type=notify"), "{unit}");
        assert!(
            text.contains("Delegate=yes") || unit.contains("server"),
            "{unit}"
        );
        // Point ExecStart at the binary under test so verify can check it.
        let text = text.replace("/usr/local/bin/gantry", &bin.display().to_string());
        std::fs::write(dir.path().join(unit), text).unwrap();
    }
    let agent =
        std::fs::read_to_string(gantry_tests::workspace().join("systemd/gantry-agent.service"))
            .unwrap();
    assert!(agent.contains("KillMode=process"));
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(dir.path().join("gantry-server.service"))
        .arg(dir.path().join("gantry-agent.service"))
        .output()
        .expect("systemd-analyze (Debian package systemd)");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify failed: {err}");
    assert!(!err.contains("gantry-"), "warnings about the units: {err}");
}
