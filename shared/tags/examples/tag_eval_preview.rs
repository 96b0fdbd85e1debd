//! Prints the tag evaluation's two reports on MovieLens 100K (a preview of `tag-eval`):
//! `cargo run --release -p mvidarr-tags --example tag_eval_preview [genres|learning|both]`.

use std::time::Instant;

use mvidarr_reco::datasets::shared_datasets_dir;
use mvidarr_tags::eval::{
    GenreEvalConfig, LearningConfig, MovieLensTags, genre_report, learning_report,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let which = std::env::args().nth(1).unwrap_or_else(|| "both".to_owned());
    let root = shared_datasets_dir().ok_or("../shared/datasets is absent")?;
    let started = Instant::now();
    let data = MovieLensTags::load(&root.join("ml-100k"), 1)?;
    eprintln!(
        "loaded and embedded in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    if which != "learning" {
        let started = Instant::now();
        let report = genre_report(&data, &GenreEvalConfig::default())?;
        println!("{report}");
        eprintln!("genres in {:.1}s", started.elapsed().as_secs_f64());
    }
    if which != "genres" {
        let started = Instant::now();
        let report = learning_report(&data, &LearningConfig::default())?;
        println!("{report}");
        eprintln!("learning rounds in {:.1}s", started.elapsed().as_secs_f64());
    }
    Ok(())
}
