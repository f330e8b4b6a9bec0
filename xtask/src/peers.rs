//! `cargo xtask bench-peers [--quick]`: sd's discovery read path beside go-kit's, measured
//! in one run, and what sd's tower stack costs end to end.
//!
//! 1. Makes sure Debian's Go toolchain and go-kit are there (`apt-get install -y golang-go
//!    golang-github-go-kit-kit-dev`, through sudo unless root, when either is missing),
//!    and builds the Go program in `xtask/peers/gokit/` against that go-kit, in GOPATH
//!    mode: no module proxy is reachable, and GOPATH mode needs nothing but the packages.
//! 2. Runs sd-lb's `peers` criterion bench, then at once the Go program, so both sides of
//!    every ratio are measured back to back, under the same load on a shared machine.
//! 3. Runs sd-tower's `overhead` criterion bench (what `Balanced` costs per request).
//! 4. Runs sd-tower's `e2e` bench: requests per second through `Balanced::retry` (the
//!    retries fused into `Balanced`) + a hyper client to three local servers, against the
//!    same client called directly.
//! 5. Prints the tables: per case, sd, go-kit and go-kit / sd (how many times faster sd
//!    is); the overhead against the target; the two request rates, and the CPU
//!    time per request of each (steadier than the rate on a shared machine).
//!
//! Criterion figures are read from `target/criterion/GROUP/ID/new/` (the median estimate,
//! as everywhere in BENCHMARKS.md), and only those written by this run count: a stale file
//! from an earlier run is reported as missing rather than set beside a fresh go-kit
//! figure. `--quick` shortens every measurement, for smoke tests; its figures are not for
//! BENCHMARKS.md.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::SystemTime;

/// The Debian packages that bring Go and go-kit (with every Go package it imports).
const GO_PACKAGES: &[&str] = &["golang-go", "golang-github-go-kit-kit-dev"];

/// Where Debian installs Go source packages: the GOPATH the Go program builds with.
const GOPATH: &str = "/usr/share/gocode";

/// go-kit's source under [`GOPATH`], present once its package is installed.
const GOKIT_SRC: &str = "/usr/share/gocode/src/github.com/go-kit/kit";

/// Debian's `go`, for when `/usr/bin` is not on PATH.
const DEBIAN_GO: &str = "/usr/lib/go/bin/go";

/// The Go program, relative to the workspace root.
const GOKIT_PROGRAM: &str = "xtask/peers/gokit";

/// Criterion's measurement options with `--quick` (the defaults otherwise).
const QUICK_CRITERION: &[&str] = &["--warm-up-time", "0.5", "--measurement-time", "1"];

/// The Go program's options: with `--quick`, and otherwise.
const QUICK_GOKIT: &[&str] = &["-rounds", "3", "-round-time", "50ms"];
const FULL_GOKIT: &[&str] = &["-rounds", "7", "-round-time", "300ms"];

/// The e2e bench's options: with `--quick`, and otherwise (its own defaults).
const QUICK_E2E: &[&str] = &["--secs", "0.5", "--rounds", "1"];

/// The packages of the benches, selected together in every cargo command: cargo unifies
/// features over the selected packages, and a different selection would rebuild sd-core
/// between two benches.
const BENCH_PACKAGES: &[&str] = &["-p", "sd-lb", "-p", "sd-tower"];

/// The criterion group of sd-lb's `peers` bench, and of sd-tower's `overhead` bench.
const PEERS_GROUP: &str = "peers";
const OVERHEAD_GROUP: &str = "request";

/// The target for what sd's stack adds to a request, in ns per request.
const OVERHEAD_TARGET_NS: f64 = 25.0;

/// Runs everything and prints the tables.
pub(crate) fn run(root: &Path, args: &[String]) -> Result<(), String> {
    let quick = match args {
        [] => false,
        [flag] if flag == "--quick" => true,
        _ => return Err(format!("bench-peers takes only `--quick` (got {args:?})")),
    };
    let scratch = target_dir(root).join("peers");
    fs::create_dir_all(&scratch)
        .map_err(|e| format!("cannot create {}: {e}", scratch.display()))?;
    let go = ensure_go()?;
    let gokit = build_gokit(root, &go, &scratch)?;

    // Every build first, so that no compilation runs between or beside measurements.
    let mut build = vec!["bench"];
    build.extend(BENCH_PACKAGES);
    build.extend([
        "--bench", "peers", "--bench", "overhead", "--bench", "e2e", "--no-run",
    ]);
    super::cargo(&build, &[])?;

    // Criterion results written before this are stale.
    let started = SystemTime::now();
    let criterion: &[&str] = if quick { QUICK_CRITERION } else { &[] };
    cargo_bench("peers", criterion)?;
    let gokit_figures = run_gokit(&gokit, if quick { QUICK_GOKIT } else { FULL_GOKIT })?;
    cargo_bench("overhead", criterion)?;
    let e2e = capture_cargo_bench("e2e", if quick { QUICK_E2E } else { &[] })?;

    let criterion_dir = target_dir(root).join("criterion");
    let sd = group_figures(&criterion_dir, PEERS_GROUP, started)?;
    let overhead = group_figures(&criterion_dir, OVERHEAD_GROUP, started)?;
    let mut report = String::new();
    peers_table(&mut report, &sd, &gokit_figures);
    overhead_table(&mut report, &overhead);
    e2e_table(&mut report, &e2e)?;
    if quick {
        report.push_str("\n(--quick: short measurements, for smoke tests only)\n");
    }
    print!("{report}");
    Ok(())
}

/// The build's target directory (`CARGO_TARGET_DIR`, else `target/`).
fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |dir| root.join(dir))
}

/// Returns a `go` to run, installing Debian's Go and go-kit first when either is missing.
fn ensure_go() -> Result<PathBuf, String> {
    if let (Some(go), true) = (find_go(), Path::new(GOKIT_SRC).is_dir()) {
        return Ok(go);
    }
    eprintln!(
        "bench-peers: Go or go-kit is missing; installing Debian's: apt-get install -y {}",
        GO_PACKAGES.join(" ")
    );
    let mut install = vec!["install", "-y"];
    install.extend(GO_PACKAGES);
    // A machine whose package lists were never fetched knows no package yet.
    if apt_get(&install).is_err() {
        apt_get(&["update"])?;
        apt_get(&install)?;
    }
    match (find_go(), Path::new(GOKIT_SRC).is_dir()) {
        (Some(go), true) => Ok(go),
        (None, _) => Err(format!(
            "`go` is still missing after installing {}",
            GO_PACKAGES.join(" ")
        )),
        (Some(_), false) => Err(format!(
            "{GOKIT_SRC} is still missing after installing {}",
            GO_PACKAGES.join(" ")
        )),
    }
}

/// `go` on PATH, else Debian's.
fn find_go() -> Option<PathBuf> {
    ["go", DEBIAN_GO].into_iter().map(PathBuf::from).find(|go| {
        Command::new(go)
            .arg("version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// `apt-get ARGS`, through sudo unless this process is root.
fn apt_get(args: &[&str]) -> Result<(), String> {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    let mut command = if root {
        Command::new("apt-get")
    } else {
        let mut sudo = Command::new("sudo");
        sudo.arg("apt-get");
        sudo
    };
    command.args(args).env("DEBIAN_FRONTEND", "noninteractive");
    let shown = format!(
        "{}apt-get {}",
        if root { "" } else { "sudo " },
        args.join(" ")
    );
    eprintln!("+ {shown}");
    let status = command
        .status()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{shown}` failed ({status})"))
    }
}

/// Builds the Go program into `scratch`; returns the binary.
fn build_gokit(root: &Path, go: &Path, scratch: &Path) -> Result<PathBuf, String> {
    let binary = scratch.join("gokit-peers");
    eprintln!(
        "+ GO111MODULE=off GOPATH={GOPATH} go build -o {} ./{GOKIT_PROGRAM}",
        binary.display()
    );
    let status = Command::new(go)
        .arg("build")
        .arg("-o")
        .arg(&binary)
        .arg(".")
        .current_dir(root.join(GOKIT_PROGRAM))
        .env("GO111MODULE", "off")
        .env("GOPATH", GOPATH)
        // The build cache beside the binary, not in a home directory that may not exist.
        .env("GOCACHE", scratch.join("go-build"))
        .env("GOFLAGS", "")
        // A newer Go on PATH must not try to fetch another toolchain.
        .env("GOTOOLCHAIN", "local")
        .status()
        .map_err(|e| format!("cannot run {}: {e}", go.display()))?;
    if status.success() {
        Ok(binary)
    } else {
        Err(format!("building {GOKIT_PROGRAM} failed ({status})"))
    }
}

/// Runs the Go program; returns its figures by bench id (ns per call).
fn run_gokit(binary: &Path, args: &[&str]) -> Result<BTreeMap<String, f64>, String> {
    eprintln!("+ {} {}", binary.display(), args.join(" "));
    let output = Command::new(binary)
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    print!("{stdout}");
    if !output.status.success() {
        return Err(format!("the go-kit bench failed ({})", output.status));
    }
    tagged_figures(&stdout, "gokit")
}

/// `cargo bench ... --bench BENCH -- BENCH_ARGS`: the command line.
fn bench_command<'a>(bench: &'a str, bench_args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["bench"];
    all.extend(BENCH_PACKAGES);
    all.extend(["--bench", bench, "--"]);
    all.extend(bench_args);
    all
}

/// Runs the bench BENCH, its output shown as it comes.
fn cargo_bench(bench: &str, bench_args: &[&str]) -> Result<(), String> {
    super::cargo(&bench_command(bench, bench_args), &[])
}

/// Runs the bench BENCH, its standard output captured (and shown after).
fn capture_cargo_bench(bench: &str, bench_args: &[&str]) -> Result<String, String> {
    let all = bench_command(bench, bench_args);
    eprintln!("+ cargo {}", all.join(" "));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args(&all)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    print!("{stdout}");
    if output.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "`cargo {}` failed ({})",
            all.join(" "),
            output.status
        ))
    }
}

/// The `TAG ID VALUE` lines of a bench's output, by id; `#` lines are comments.
fn tagged_figures(output: &str, tag: &str) -> Result<BTreeMap<String, f64>, String> {
    let mut figures = BTreeMap::new();
    for line in output.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some(tag) {
            continue;
        }
        match (
            words.next(),
            words.next().map(str::parse::<f64>),
            words.next(),
        ) {
            (Some(id), Some(Ok(value)), None) => {
                figures.insert(id.to_owned(), value);
            }
            _ => return Err(format!("cannot read the bench line {line:?}")),
        }
    }
    if figures.is_empty() {
        Err(format!("the bench printed no `{tag} ID VALUE` line"))
    } else {
        Ok(figures)
    }
}

/// Criterion's median estimate (ns) of every bench of `group` written since `since`, by
/// bench id. The id is read from criterion's `benchmark.json`, since directory names are
/// ids made safe for file systems.
fn group_figures(
    criterion: &Path,
    group: &str,
    since: SystemTime,
) -> Result<BTreeMap<String, f64>, String> {
    let dir = criterion.join(group);
    let entries = fs::read_dir(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut figures = BTreeMap::new();
    for entry in entries.flatten() {
        let new = entry.path().join("new");
        let estimates = new.join("estimates.json");
        let fresh = fs::metadata(&estimates)
            .and_then(|m| m.modified())
            .is_ok_and(|written| written >= since);
        if !fresh {
            continue;
        }
        let id = read_json(&new.join("benchmark.json"))?["function_id"]
            .as_str()
            .map(str::to_owned);
        let median = read_json(&estimates)?["median"]["point_estimate"].as_f64();
        match (id, median) {
            (Some(id), Some(median)) => {
                figures.insert(id, median);
            }
            _ => return Err(format!("unexpected criterion files in {}", new.display())),
        }
    }
    Ok(figures)
}

fn read_json(path: &Path) -> Result<serde_json::Value, String> {
    let text = fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_slice(&text).map_err(|e| format!("cannot parse {}: {e}", path.display()))
}

/// The rows of the peers table: the sd bench id and the go-kit id it is set against.
fn peer_rows() -> Vec<(String, String)> {
    // Each harness's own cost per call, which every other figure includes.
    let mut rows: Vec<(String, String)> = [1, 2]
        .iter()
        .map(|t| (format!("floor-t{t}"), format!("floor-t{t}")))
        .collect();
    for n in [16, 100] {
        for t in [1, 2] {
            for case in ["endpoints", "round_robin", "random"] {
                let id = format!("{case}-{n}-t{t}");
                rows.push((id.clone(), id));
            }
        }
    }
    // sd's round robin with go-kit's one shared counter, against go-kit's round robin.
    for t in [1, 2] {
        rows.push((
            format!("round_robin_shared-16-t{t}"),
            format!("round_robin-16-t{t}"),
        ));
    }
    rows
}

/// Writing to a String cannot fail; these helpers ignore the `fmt::Result`.
fn peers_table(out: &mut String, sd: &BTreeMap<String, f64>, gokit: &BTreeMap<String, f64>) {
    let _ = writeln!(
        out,
        "\npeers: ns per call on each thread, T threads at once (sd: criterion median; \
         go-kit: median of rounds)"
    );
    let _ = writeln!(
        out,
        "{:<42} {:>10} {:>10} {:>12}",
        "case", "sd", "go-kit", "go-kit / sd"
    );
    for (sd_id, gokit_id) in peer_rows() {
        let case = if sd_id == gokit_id {
            sd_id.clone()
        } else {
            let theirs = gokit_id.split('-').next().unwrap_or_default();
            format!("{sd_id} (vs {theirs})")
        };
        let (ours, theirs) = (sd.get(&sd_id), gokit.get(&gokit_id));
        let ratio = match (ours, theirs) {
            (Some(&ours), Some(&theirs)) if ours > 0.0 => format!("{:.1}x", theirs / ours),
            _ => "-".to_owned(),
        };
        let _ = writeln!(
            out,
            "{case:<42} {:>10} {:>10} {ratio:>12}",
            ns(ours),
            ns(theirs)
        );
    }
    let _ = writeln!(
        out,
        "(sd: a reader per thread, its own endpointer clone and balancer; go-kit: one shared \
         endpointer, one shared round robin, a random balancer per goroutine)"
    );
}

/// What `Balanced` (and whatever else the overhead bench measures) adds per request over
/// the direct call, on each thread count.
fn overhead_table(out: &mut String, overhead: &BTreeMap<String, f64>) {
    let _ = writeln!(
        out,
        "\noverhead per request (sd-tower `overhead` bench, criterion median), \
         target for Balanced with retries: <= {OVERHEAD_TARGET_NS} ns"
    );
    let _ = writeln!(
        out,
        "{:<26} {:>10} {:>12} {:>10} {:>12}",
        "what", "1 thread", "- direct", "2 threads", "- direct"
    );
    // Ids are `WHAT, T thread(s)`: one row per WHAT.
    let mut names: Vec<&str> = overhead
        .keys()
        .filter_map(|id| id.split_once(", ").map(|(what, _)| what))
        .collect();
    // The direct call first: the others are read against it.
    names.sort_unstable_by_key(|what| (*what != "direct", *what));
    names.dedup();
    for what in names {
        let mut row = format!("{what:<26}");
        for t in [1, 2] {
            let figure = overhead.get(&format!("{what}, {t} thread(s)"));
            let direct = overhead.get(&format!("direct, {t} thread(s)"));
            let added = match (figure, direct) {
                // The target is for the balanced stacks, not for their parts.
                (Some(f), Some(d)) if what.contains("balanced") => {
                    let verdict = if f - d <= OVERHEAD_TARGET_NS {
                        "ok"
                    } else {
                        "over"
                    };
                    format!("{:.1} {verdict}", f - d)
                }
                (Some(f), Some(d)) if what != "direct" => format!("{:.1}", f - d),
                _ => "-".to_owned(),
            };
            let _ = write!(row, " {:>10} {added:>12}", ns(figure));
        }
        let _ = writeln!(out, "{row}");
    }
}

/// The e2e bench's request rates and CPU per request, each side's and their ratios.
fn e2e_table(out: &mut String, e2e: &str) -> Result<(), String> {
    let figures = tagged_figures(e2e, "e2e")?;
    let get = |id: &str| {
        figures
            .get(id)
            .copied()
            .ok_or_else(|| format!("the e2e bench printed no `e2e {id}` line: {figures:?}"))
    };
    let (direct, balanced) = (get("direct")?, get("balanced")?);
    let (direct_cpu, balanced_cpu) = (get("direct-cpu-us")?, get("balanced-cpu-us")?);
    let _ = writeln!(
        out,
        "\nend to end: a hyper client to three local HTTP/1 servers (medians of rounds)"
    );
    let _ = writeln!(
        out,
        "{:<44} {:>12} {:>18}",
        "", "requests/s", "CPU us/request"
    );
    let _ = writeln!(
        out,
        "{:<44} {direct:>12.0} {direct_cpu:>18.2}",
        "hyper client, called directly"
    );
    let _ = writeln!(
        out,
        "{:<44} {balanced:>12.0} {balanced_cpu:>18.2}",
        "Balanced::retry + RoundRobin + hyper"
    );
    // Without retries, when the bench measured it: their share apart.
    let noretry = get("balanced-noretry").and_then(|r| Ok((r, get("balanced-noretry-cpu-us")?)));
    if let Ok((rate, cpu)) = noretry {
        let _ = writeln!(
            out,
            "{:<44} {rate:>12.0} {cpu:>18.2}",
            "Balanced + RoundRobin + hyper (no retry)"
        );
    }
    // The whole boxed `HttpClient`, as users build it, when the bench measured it.
    let whole = get("httpclient").and_then(|r| Ok((r, get("httpclient-cpu-us")?)));
    if let Ok((rate, cpu)) = whole {
        let _ = writeln!(
            out,
            "{:<44} {rate:>12.0} {cpu:>18.2}",
            "sd_tower::HttpClient"
        );
    }
    let _ = writeln!(
        out,
        "{:<44} {:>11.3}x {:>17.3}x",
        "balanced / direct",
        balanced / direct,
        balanced_cpu / direct_cpu
    );
    Ok(())
}

/// A figure in ns, or `-` when missing.
fn ns(figure: Option<&f64>) -> String {
    figure.map_or_else(|| "-".to_owned(), |f| format!("{f:.1}"))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn tagged_lines_are_read_and_comments_skipped() {
        let output = "# go1.19\ngokit endpoints-16-t1 18.80\nnoise\ngokit random-100-t2 85.64\n";
        let figures = tagged_figures(output, "gokit").unwrap();
        assert_eq!(figures.len(), 2);
        assert!((figures["random-100-t2"] - 85.64).abs() < 1e-9);
        assert!(tagged_figures("gokit endpoints-16-t1 fast\n", "gokit").is_err());
        assert!(tagged_figures("# nothing\n", "gokit").is_err());
    }

    /// Writes criterion's two files for `group/dir` with this id and median.
    fn criterion_result(root: &Path, group: &str, dir: &str, id: &str, median: f64) {
        let new = root.join(group).join(dir).join("new");
        fs::create_dir_all(&new).unwrap();
        let benchmark = serde_json::json!({ "group_id": group, "function_id": id });
        fs::write(new.join("benchmark.json"), benchmark.to_string()).unwrap();
        let estimates = serde_json::json!({
            "mean": { "point_estimate": median + 1.0 },
            "median": { "point_estimate": median },
        });
        fs::write(new.join("estimates.json"), estimates.to_string()).unwrap();
    }

    #[test]
    fn criterion_medians_by_id_and_only_fresh_ones() {
        let root = std::env::temp_dir().join(format!("bench-peers-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        criterion_result(&root, "request", "stale", "stale, 1 thread(s)", 9.0);
        let since = SystemTime::now();
        // File times may be coarser than the clock: the next writes must be later.
        std::thread::sleep(Duration::from_millis(20));
        criterion_result(
            &root,
            "request",
            "direct, 1 thread(s)",
            "direct, 1 thread(s)",
            1.5,
        );
        criterion_result(
            &root,
            "request",
            "balanced_x",
            "balanced: x, 1 thread(s)",
            40.0,
        );
        let figures = group_figures(&root, "request", since).unwrap();
        fs::remove_dir_all(&root).unwrap();
        assert_eq!(
            figures.keys().collect::<Vec<_>>(),
            ["balanced: x, 1 thread(s)", "direct, 1 thread(s)"]
        );
        assert!((figures["direct, 1 thread(s)"] - 1.5).abs() < 1e-9);

        let mut table = String::new();
        overhead_table(&mut table, &figures);
        assert!(table.contains("38.5 over"), "{table}");
    }
}
