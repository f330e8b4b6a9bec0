//! `sd eureka decode`, run as a real process: exact output, input selection, format
//! forcing, JSON output and every way the input can be unusable.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use sd_eureka::{Document, Format, InstanceInfo, LeaseInfo};

const REGISTRY_JSON: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/registry.json");
const APPLICATION_XML: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/application.xml"
);
const DELTA_XML: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/delta.xml");
const INSTANCE_JSON: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/instance.json");
const GARBAGE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/garbage.txt");
const TRUNCATED_JSON: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/truncated.json");
const EMPTY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/empty.json");

const REGISTRY_TABLE: &str = "\
BILLING\tbilling-a:billing:9000\tUP\t10.0.1.1:9000\t-
BILLING\tbilling-b:billing:9000\tSTARTING\t10.0.1.2:9000\t-
ORDERS\torders-1:orders:8080\tUP\t10.0.0.11:8080\tADDED
ORDERS\torders-2:orders:8080\tDOWN\t10.0.0.12:8080\t-
ORDERS\torders-3:orders:8081\tUP\t10.0.0.13:8081\t-
# apps=2 instances=5 hashcode=DOWN_1_STARTING_1_UP_3_
";

/// Runs `sd` with `args`, feeding `stdin` (empty when `None`).
fn sd(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sd"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sd");
    let mut pipe = child.stdin.take().expect("stdin is piped");
    let input = stdin.unwrap_or_default().to_vec();
    // Written from a thread so that a large input cannot deadlock against a full stdout.
    let writer = std::thread::spawn(move || {
        // sd may stop reading early (on a usage error); that is not what is tested here.
        let _ = pipe.write_all(&input);
    });
    let output = child.wait_with_output().expect("wait for sd");
    writer.join().expect("stdin writer");
    output
}

fn decode(args: &[&str]) -> Output {
    let mut all = vec!["eureka", "decode"];
    all.extend_from_slice(args);
    sd(&all, None)
}

fn decode_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut all = vec!["eureka", "decode"];
    all.extend_from_slice(args);
    sd(&all, Some(input))
}

fn stdout(output: &Output) -> &str {
    std::str::from_utf8(&output.stdout).expect("stdout is UTF-8")
}

fn stderr(output: &Output) -> &str {
    std::str::from_utf8(&output.stderr).expect("stderr is UTF-8")
}

#[track_caller]
fn assert_success(output: &Output) {
    assert_eq!(
        output.status.code(),
        Some(0),
        "sd failed; stderr: {}",
        stderr(output)
    );
    assert!(output.stderr.is_empty(), "stderr: {}", stderr(output));
}

/// Exit status 1, nothing on stdout, and exactly one `error: ` line on stderr, which is
/// returned.
#[track_caller]
fn assert_one_error(output: &Output) -> String {
    assert_eq!(
        output.status.code(),
        Some(1),
        "stdout: {} stderr: {}",
        stdout(output),
        stderr(output)
    );
    assert!(output.stdout.is_empty(), "stdout: {}", stdout(output));
    let err = stderr(output);
    assert!(err.ends_with('\n'), "stderr not one full line: {err:?}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "stderr is not one line: {err:?}");
    assert!(lines[0].starts_with("error: "), "stderr: {err:?}");
    lines[0].to_owned()
}

#[test]
fn json_registry_lists_instances_sorted_by_app_then_id() {
    let output = decode(&[REGISTRY_JSON]);
    assert_success(&output);
    assert_eq!(stdout(&output), REGISTRY_TABLE);
}

#[test]
fn hashcode_is_computed_from_instances_not_copied_from_document() {
    // The fixture's own apps__hashcode is "UP_9_", deliberately wrong.
    let output = decode(&[REGISTRY_JSON]);
    assert_success(&output);
    let summary = stdout(&output).lines().last().expect("a summary line");
    assert_eq!(
        summary,
        "# apps=2 instances=5 hashcode=DOWN_1_STARTING_1_UP_3_"
    );
    assert!(!stdout(&output).contains("UP_9_"));
}

#[test]
fn rows_have_five_tab_separated_columns() {
    let output = decode(&[REGISTRY_JSON]);
    assert_success(&output);
    let text = stdout(&output);
    let rows: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(rows.len(), 5);
    for row in rows {
        assert_eq!(row.split('\t').count(), 5, "row {row:?}");
    }
}

#[test]
fn xml_application_document_is_listed_as_a_registry_of_one_app() {
    let output = decode(&[APPLICATION_XML]);
    assert_success(&output);
    assert_eq!(
        stdout(&output),
        "INVENTORY\tinv-a:inventory:7001\tUP\t10.0.2.1:7001\t-\n\
         INVENTORY\tinv-b:inventory:7001\tOUT_OF_SERVICE\t10.0.2.2:7001\t-\n\
         # apps=1 instances=2 hashcode=OUT_OF_SERVICE_1_UP_1_\n"
    );
}

#[test]
fn xml_delta_shows_every_action_type() {
    let output = decode(&[DELTA_XML]);
    assert_success(&output);
    assert_eq!(
        stdout(&output),
        "BILLING\tbilling-b:billing:9000\tUP\t10.0.1.2:9000\tMODIFIED\n\
         ORDERS\torders-2:orders:8080\tDOWN\t10.0.0.12:8080\tDELETED\n\
         ORDERS\torders-4:orders:8080\tUP\t10.0.0.14:8080\tADDED\n\
         # apps=2 instances=3 hashcode=DOWN_1_UP_2_\n"
    );
}

#[test]
fn json_instance_document_is_listed_under_its_app() {
    let output = decode(&[INSTANCE_JSON]);
    assert_success(&output);
    assert_eq!(
        stdout(&output),
        "SEARCH\tsearch-1:search:8983\tUP\t10.0.3.1:8983\t-\n\
         # apps=1 instances=1 hashcode=UP_1_\n"
    );
}

#[test]
fn empty_registry_prints_only_the_summary() {
    let output = decode_stdin(
        &["-"],
        br#"{"applications":{"versions__delta":"1","apps__hashcode":"","application":[]}}"#,
    );
    assert_success(&output);
    assert_eq!(stdout(&output), "# apps=0 instances=0 hashcode=\n");
}

#[test]
fn control_characters_in_fields_cannot_break_the_table() {
    let output = decode_stdin(
        &["-"],
        br#"{"instance":{"instanceId":"a\tb\nc","app":"X","ipAddr":"10.0.0.1","status":"UP","port":8080}}"#,
    );
    assert_success(&output);
    assert_eq!(
        stdout(&output),
        "X\ta\\tb\\nc\tUP\t10.0.0.1:8080\t-\n# apps=1 instances=1 hashcode=UP_1_\n"
    );
}

#[test]
fn dash_reads_standard_input() {
    let bytes = std::fs::read(REGISTRY_JSON).expect("read fixture");
    let output = decode_stdin(&["-"], &bytes);
    assert_success(&output);
    assert_eq!(stdout(&output), REGISTRY_TABLE);

    let bytes = std::fs::read(DELTA_XML).expect("read fixture");
    let output = decode_stdin(&["-"], &bytes);
    assert_success(&output);
    assert_eq!(stdout(&output), stdout(&decode(&[DELTA_XML])));
}

#[test]
fn format_matching_the_content_decodes_as_detected() {
    let output = decode(&["--format", "json", REGISTRY_JSON]);
    assert_success(&output);
    assert_eq!(stdout(&output), REGISTRY_TABLE);

    let output = decode(&["--format", "xml", DELTA_XML]);
    assert_success(&output);
    assert_eq!(stdout(&output), stdout(&decode(&[DELTA_XML])));
}

#[test]
fn forcing_xml_on_json_fails_with_one_error_line() {
    let line = assert_one_error(&decode(&["--format", "xml", REGISTRY_JSON]));
    assert!(line.contains("registry.json"), "{line}");
    assert!(line.contains("XML"), "{line}");
}

#[test]
fn forcing_json_on_xml_fails_with_one_error_line() {
    let bytes = std::fs::read(APPLICATION_XML).expect("read fixture");
    let line = assert_one_error(&decode_stdin(&["--format", "json", "-"], &bytes));
    assert!(line.contains("JSON"), "{line}");
    assert!(line.contains("line 1, column 1"), "{line}");
}

#[test]
fn json_output_decodes_back_to_the_same_document() {
    for (fixture, root) in [
        (REGISTRY_JSON, "applications"),
        (APPLICATION_XML, "application"),
        (DELTA_XML, "applications"),
        (INSTANCE_JSON, "instance"),
    ] {
        let output = decode(&["--json", fixture]);
        assert_success(&output);
        let text = stdout(&output);
        assert!(text.ends_with("}\n"), "{fixture}: {text:?}");
        assert_eq!(text.lines().count(), 1, "{fixture}");
        assert!(
            text.starts_with(&format!("{{\"{root}\":")),
            "{fixture}: {text}"
        );

        let original = std::fs::read(fixture).expect("read fixture");
        let (_, expected) = sd_eureka::decode_any(&original).expect("fixture decodes");
        let expected = with_written_leases(expected);
        // Forcing JSON makes the decoder's JSON parser the judge of validity.
        let round_trip = sd_eureka::decode(text.as_bytes(), Format::Json)
            .unwrap_or_else(|e| panic!("{fixture}: --json output does not decode: {e}"));
        assert_eq!(round_trip, expected, "{fixture}");
    }
}

/// `document` as the strict encoder writes it: an instance without a lease (the compact
/// form) gets the default lease, because servers reject a registration without one.
fn with_written_leases(document: Document) -> Document {
    fn fill(instance: &mut InstanceInfo) {
        instance.lease_info.get_or_insert_with(LeaseInfo::default);
    }
    match document {
        Document::Applications(mut apps) => {
            apps.applications
                .iter_mut()
                .flat_map(|app| app.instances.iter_mut())
                .for_each(fill);
            Document::Applications(apps)
        }
        Document::Application(mut app) => {
            app.instances.iter_mut().for_each(fill);
            Document::Application(app)
        }
        Document::Instance(mut instance) => {
            fill(&mut instance);
            Document::Instance(instance)
        }
    }
}

#[test]
fn json_output_is_a_fixed_point() {
    for fixture in [REGISTRY_JSON, APPLICATION_XML, DELTA_XML, INSTANCE_JSON] {
        let first = decode(&["--json", fixture]);
        assert_success(&first);
        let second = decode_stdin(&["--json", "-"], &first.stdout);
        assert_success(&second);
        assert_eq!(stdout(&second), stdout(&first), "{fixture}");
    }
}

#[test]
fn json_output_keeps_the_root_kind() {
    let output = decode(&["--json", APPLICATION_XML]);
    assert_success(&output);
    let document = sd_eureka::decode(&output.stdout, Format::Json).expect("valid JSON");
    let Document::Application(app) = document else {
        panic!("root is not application: {document:?}");
    };
    assert_eq!(app.name, "INVENTORY");
    assert_eq!(app.instances.len(), 2);
}

#[test]
fn json_output_from_stdin_with_forced_format() {
    let bytes = std::fs::read(DELTA_XML).expect("read fixture");
    let output = decode_stdin(&["--format", "xml", "--json", "-"], &bytes);
    assert_success(&output);
    assert_eq!(stdout(&output), stdout(&decode(&["--json", DELTA_XML])));
}

#[test]
fn garbage_file_fails_with_one_error_line() {
    let line = assert_one_error(&decode(&[GARBAGE]));
    assert!(line.contains("garbage.txt"), "{line}");
    assert!(line.contains("neither JSON nor XML"), "{line}");
}

#[test]
fn binary_garbage_on_stdin_fails_with_one_error_line() {
    assert_one_error(&decode_stdin(&["-"], b"\x00\xff\xfe\n\x1b[31m\r\n"));
    assert_one_error(&decode_stdin(&["-"], b"<\x00\xff\n\n<<>>"));
    assert_one_error(&decode_stdin(&["-"], b"{\xff\n\"\n"));
}

#[test]
fn truncated_json_file_fails_with_position_and_path() {
    let line = assert_one_error(&decode(&[TRUNCATED_JSON]));
    assert!(line.contains("truncated.json"), "{line}");
    assert!(line.contains("at line "), "{line}");
    assert!(line.contains("applications.application[0]"), "{line}");
}

#[test]
fn truncated_xml_on_stdin_fails_with_one_error_line() {
    let bytes = std::fs::read(DELTA_XML).expect("read fixture");
    let line = assert_one_error(&decode_stdin(&["-"], &bytes[..bytes.len() / 2]));
    assert!(line.contains("standard input"), "{line}");
    assert!(line.contains("XML"), "{line}");
}

#[test]
fn invalid_value_names_the_field() {
    let line = assert_one_error(&decode_stdin(
        &["-"],
        br#"{"applications":{"application":[{"name":"A","instance":[{"port":{"$":"99999"}}]}]}}"#,
    ));
    assert!(
        line.contains("applications.application[0].instance[0].port"),
        "{line}"
    );
    assert!(line.contains("99999"), "{line}");
}

#[test]
fn missing_file_fails_with_one_error_line() {
    let missing = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/no-such-file.json"
    );
    let line = assert_one_error(&decode(&[missing]));
    assert!(line.contains("no-such-file.json"), "{line}");
    assert!(line.starts_with("error: cannot read "), "{line}");
}

#[test]
fn directory_fails_with_one_error_line() {
    assert_one_error(&decode(&[concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures"
    )]));
}

#[test]
fn empty_input_fails() {
    let line = assert_one_error(&decode(&[EMPTY]));
    assert!(line.contains("empty"), "{line}");
    assert_one_error(&decode_stdin(&["-"], b""));
    assert_one_error(&decode_stdin(&["-"], b" \n\t\r\n"));
    assert_one_error(&decode_stdin(&["--format", "xml", "-"], b"\n"));
}

#[test]
fn bad_usage_exits_with_status_2() {
    for args in [
        &["eureka", "decode"][..],
        &["eureka", "decode", "--format", "yaml", REGISTRY_JSON],
        &["eureka", "decode", "--bogus", REGISTRY_JSON],
        &["eureka", "decode", REGISTRY_JSON, DELTA_XML],
        &["eureka"],
        &[],
    ] {
        let output = sd(args, None);
        assert_eq!(output.status.code(), Some(2), "sd {args:?}");
        assert!(output.stdout.is_empty(), "sd {args:?}");
    }
}

#[test]
fn help_lists_the_decode_command() {
    let output = sd(&["eureka", "--help"], None);
    assert_success(&output);
    assert!(stdout(&output).contains("decode"), "{}", stdout(&output));
}
