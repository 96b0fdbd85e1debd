//! Probe files from the command line and time it: `cargo run -p mvidarr-media --example probe
//! -- FILE_OR_URL... [--repeat N]`. Prints each probe as JSON and the mean wall time per probe.

use std::time::{Duration, Instant};

use mvidarr_media::{Ffmpeg, probe};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut inputs = Vec::new();
    let mut repeat = 1u32;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--repeat" {
            repeat = args.next().ok_or("--repeat needs a number")?.parse()?;
        } else {
            inputs.push(arg);
        }
    }
    if inputs.is_empty() {
        return Err("usage: probe FILE_OR_URL... [--repeat N]".into());
    }
    let ffmpeg = Ffmpeg::locate()?;
    for input in &inputs {
        let started = Instant::now();
        let mut last = None;
        for _ in 0..repeat.max(1) {
            last = Some(probe(&ffmpeg, input, Duration::from_secs(60)).await);
        }
        let mean = started.elapsed() / repeat.max(1);
        match last {
            Some(Ok(probe)) => println!("{}", serde_json::to_string_pretty(&probe)?),
            Some(Err(error)) => println!("{input}: {error}"),
            None => {}
        }
        eprintln!(
            "{input}: {:.1} ms per probe over {repeat} run(s)",
            mean.as_secs_f64() * 1000.0
        );
    }
    Ok(())
}
