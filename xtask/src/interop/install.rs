//! The clients, installed under the scratch directory at pinned versions (once: a warm
//! run finds them there and needs no registry), and the registry binary.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::child::run_bounded;

/// The Python Eureka client (pip) and the version verified here.
pub(super) const PY_CLIENT: (&str, &str) = ("py-eureka-client", "0.13.3");

/// The JavaScript Eureka client (npm) and the version verified here.
pub(super) const JS_CLIENT: (&str, &str) = ("eureka-js-client", "4.5.0");

/// The bound on one install command.
const INSTALL_LIMIT: Duration = Duration::from_secs(300);

/// The bound on building the registry.
const BUILD_LIMIT: Duration = Duration::from_secs(900);

/// Makes `scratch/venv` holding the pinned py-eureka-client; returns its interpreter.
pub(super) fn python_client(scratch: &Path) -> Result<PathBuf, String> {
    let venv = scratch.join("venv");
    let python = venv.join("bin").join("python");
    if !python.exists() {
        run_bounded(
            Command::new("python3").args(["-m", "venv"]).arg(&venv),
            INSTALL_LIMIT,
        )?;
    }
    if !python_has_client(&venv) {
        let (package, version) = PY_CLIENT;
        run_bounded(
            Command::new(&python).args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--quiet",
                &format!("{package}=={version}"),
            ]),
            INSTALL_LIMIT,
        )?;
    }
    Ok(python)
}

/// Whether the venv holds the pinned py-eureka-client (its `.dist-info` directory).
fn python_has_client(venv: &Path) -> bool {
    let (package, version) = PY_CLIENT;
    let dist_info = format!("{}-{version}.dist-info", package.replace('-', "_"));
    fs::read_dir(venv.join("lib")).is_ok_and(|pythons| {
        pythons.filter_map(Result::ok).any(|python| {
            python
                .path()
                .join("site-packages")
                .join(&dist_info)
                .is_dir()
        })
    })
}

/// Installs the pinned eureka-js-client under `scratch/js`; returns its
/// `node_modules`, for `NODE_PATH`.
pub(super) fn js_client(scratch: &Path) -> Result<PathBuf, String> {
    let prefix = scratch.join("js");
    let modules = prefix.join("node_modules");
    let (package, version) = JS_CLIENT;
    if installed_js_version(&modules).as_deref() != Some(version) {
        fs::create_dir_all(&prefix)
            .map_err(|e| format!("cannot create {}: {e}", prefix.display()))?;
        run_bounded(
            Command::new("npm")
                .arg("install")
                .arg("--prefix")
                .arg(&prefix)
                .args(["--no-audit", "--no-fund", "--loglevel=error"])
                .arg(format!("{package}@{version}")),
            INSTALL_LIMIT,
        )?;
    }
    Ok(modules)
}

/// The version in `node_modules/eureka-js-client/package.json`, if it is there.
fn installed_js_version(modules: &Path) -> Option<String> {
    let manifest = fs::read(modules.join(JS_CLIENT.0).join("package.json")).ok()?;
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).ok()?;
    manifest["version"].as_str().map(str::to_owned)
}

/// Builds `sd` (the registry's command line); returns the binary.
pub(super) fn registry(root: &Path, target: &Path) -> Result<PathBuf, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    run_bounded(
        Command::new(cargo)
            .current_dir(root)
            .args(["build", "-p", "sd-cli"]),
        BUILD_LIMIT,
    )?;
    Ok(target.join("debug").join("sd"))
}
