//! Writes `data/victoria_demand.csv`: the hourly electricity demand of Victoria, Australia, from
//! 2012-01-01 00:00 to 2012-05-29 23:00 (3,600 hours, MW), as the `augurs-testing` crate carries
//! it, for `configs/victoria_demand.toml`:
//!
//! ```text
//! cargo run --release --features examples --example victoria_demand
//! cargo run --release -- train configs/victoria_demand.toml
//! ```

use std::io::Write;

fn main() -> std::io::Result<()> {
    let demand = &*augurs_testing::data::VIC_ELEC;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/victoria_demand.csv");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
    writeln!(out, "time,demand")?;
    // The crate's values are hourly from 2012-01-01 00:00, without gaps.
    let start = 1_325_376_000_i64; // 2012-01-01T00:00:00Z in unix seconds
    for (hour, value) in demand.iter().enumerate() {
        let time = chrono::DateTime::from_timestamp(start + 3600 * hour as i64, 0)
            .expect("a time in 2012");
        writeln!(out, "{},{value}", time.format("%Y-%m-%dT%H:%M:%S"))?;
    }
    out.flush()?;
    println!("wrote {} hours to {}", demand.len(), path.display());
    Ok(())
}
