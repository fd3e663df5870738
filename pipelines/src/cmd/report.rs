//! `ikd report OUT`: writes a finished run's report page (the `report` module); `ikd run` and
//! `ikd demo` write it to OUT/report.html at the end.

use crate::batch::UsageError;
use crate::report::write_report;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug, Clone)]
pub struct ReportArgs {
    /// The run's output directory.
    pub run: PathBuf,
    /// Where to write the page (default: OUT/report.html).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let path = args.out.clone().unwrap_or_else(|| args.run.join("report.html"));
    match write_report(&args.run, &path) {
        Ok(()) => {
            println!("report: {}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => match e.downcast_ref::<UsageError>() {
            Some(u) => {
                eprintln!("ikd report: {u}");
                Ok(ExitCode::from(2))
            }
            None => Err(e),
        },
    }
}
