//! `sd eureka decode`: reads a Eureka document from a file or stdin and shows what it
//! holds, as a sorted instance table or as normalized JSON.
//!
//! The table has one line per instance, sorted by app then instance id:
//! `APP\tINSTANCE_ID\tSTATUS\tIPADDR:PORT\tACTION` (`-` when the instance carries no
//! action type), then `# apps=N instances=M hashcode=H`.

use std::io::{self, Write};

use clap::ValueEnum;
use sd_eureka::{ActionType, Applications, Format};

use crate::error::Error;
use crate::input::Source;
use crate::text::one_line;

/// Arguments of `sd eureka decode`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Read the input as this format instead of detecting it from the content.
    #[arg(long, value_enum, value_name = "FORMAT")]
    format: Option<InputFormat>,
    /// Print the document as normalized JSON instead of an instance table.
    #[arg(long)]
    json: bool,
    /// The document to decode, or `-` for standard input.
    #[arg(value_name = "FILE")]
    input: Source,
}

/// The `--format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum InputFormat {
    Xml,
    Json,
}

impl From<InputFormat> for Format {
    fn from(format: InputFormat) -> Self {
        match format {
            InputFormat::Xml => Format::Xml,
            InputFormat::Json => Format::Json,
        }
    }
}

/// Runs `sd eureka decode`.
pub(crate) fn run(args: &Args, out: &mut impl Write) -> Result<(), Error> {
    let bytes = args.input.read()?;
    let decoded = match args.format {
        Some(format) => sd_eureka::decode(&bytes, format.into()),
        None => sd_eureka::decode_any(&bytes).map(|(_, document)| document),
    };
    let document = decoded.map_err(|source| Error::Decode {
        input: args.input.to_string(),
        source,
    })?;
    if args.json {
        let json = sd_eureka::encode(&document, Format::Json).map_err(|source| Error::Encode {
            input: args.input.to_string(),
            source,
        })?;
        out.write_all(&json)
            .and_then(|()| out.write_all(b"\n"))
            .map_err(Error::Write)
    } else {
        write_table(&document.into_applications(), out).map_err(Error::Write)
    }
}

/// Writes the instance table and its summary line.
fn write_table(registry: &Applications, out: &mut impl Write) -> io::Result<()> {
    let mut rows: Vec<_> = registry.instances().collect();
    // Stable, so instances sharing an app and an id keep their order in the document.
    rows.sort_by(|(app_a, a), (app_b, b)| (app_a, a.id()).cmp(&(app_b, b.id())));
    for (app, instance) in rows {
        writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}",
            one_line(app),
            one_line(instance.id()),
            instance.status,
            one_line(&instance.address()),
            instance.action_type.map_or("-", ActionType::as_str),
        )?;
    }
    // The hash code is recomputed: the document's own `apps__hashcode` may be stale, and
    // recomputing is what a client checks a delta against.
    writeln!(
        out,
        "# apps={} instances={} hashcode={}",
        registry.applications.len(),
        registry.instance_count(),
        registry.reconcile_hash_code(),
    )
}

#[cfg(test)]
mod tests {
    use sd_eureka::{Application, Applications, InstanceInfo, Status};

    use super::write_table;

    fn table(registry: &Applications) -> String {
        let mut out = Vec::new();
        write_table(registry, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn empty_registry_prints_only_the_summary() {
        assert_eq!(
            table(&Applications::default()),
            "# apps=0 instances=0 hashcode=\n"
        );
    }

    #[test]
    fn rows_are_sorted_by_app_then_id_and_control_characters_escaped() {
        let mut down = InstanceInfo::new("orders", "a", "10.0.0.1", 80);
        down.status = Status::Down;
        down.instance_id = "a\tb".to_owned();
        let registry = Applications {
            applications: vec![
                Application {
                    name: "ORDERS".to_owned(),
                    instances: vec![InstanceInfo::new("orders", "z", "10.0.0.9", 81), down],
                },
                Application {
                    name: "BILLING".to_owned(),
                    instances: vec![InstanceInfo::new("billing", "b", "10.0.0.2", 82)],
                },
            ],
            ..Applications::default()
        };
        assert_eq!(
            table(&registry),
            "BILLING\tb:billing:82\tUP\t10.0.0.2:82\t-\n\
             ORDERS\ta\\tb\tDOWN\t10.0.0.1:80\t-\n\
             ORDERS\tz:orders:81\tUP\t10.0.0.9:81\t-\n\
             # apps=2 instances=3 hashcode=DOWN_1_UP_2_\n"
        );
    }
}
