//! Write the demo data set and print what is in it.
//!
//! ```text
//! cargo run -p ikd-datasets --example demo -- demo-out [seed]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use ikd_datasets::{generate_demo, DemoConfig};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().unwrap_or_else(|| "demo-out".to_string()));
    let mut config = DemoConfig::default();
    if let Some(seed) = args.next() {
        match seed.parse() {
            Ok(seed) => config.seed = seed,
            Err(_) => {
                eprintln!("seed must be an unsigned integer, got {seed:?}");
                return ExitCode::FAILURE;
            }
        }
    }
    match generate_demo(&config, &out) {
        Ok(m) => {
            for r in &m.requests {
                let exif = r.exif_orientation.map(|o| format!(" [EXIF {o}]")).unwrap_or_default();
                println!("{}  {:<17} {}{}", r.request_id, r.expected.as_str(), r.note, exif);
            }
            println!(
                "\ngallery: {} identities in {}",
                m.gallery_count,
                m.gallery_csv.display()
            );
            for (region, n) in &m.regions {
                println!("  region {region}: {n}");
            }
            println!("requests: {} rows in {}", m.request_count, m.requests_csv.display());
            for (outcome, n) in &m.outcomes {
                println!("  {:<17} {n}", outcome.as_str());
            }
            println!("expected outcomes: {}", m.expected_csv.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
