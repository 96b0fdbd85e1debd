//! The multi-output ffmpeg pass: every consumer gets its whole stream, and one that fails or
//! panics does not stall or starve the others.

use std::sync::mpsc;
use std::time::Duration;

use mvidarr_media::Ffmpeg;
use mvidarr_media::frames::read_frame;
use mvidarr_media::pass::{Consumer, Output, Pass, PassError};

const FRAME: usize = 64 * 36 * 3;

fn raw_output(map: &str, consumer: Consumer) -> Output {
    Output {
        options: [
            "-map", map, "-c:v", "rawvideo", "-pix_fmt", "rgb24", "-f", "rawvideo",
        ]
        .map(String::from)
        .to_vec(),
        consumer,
    }
}

fn counting(sender: mpsc::Sender<usize>) -> Consumer {
    Box::new(move |reader| {
        let mut frame = vec![0u8; FRAME];
        let mut frames = 0;
        while read_frame(reader, &mut frame).unwrap() {
            frames += 1;
        }
        sender.send(frames).unwrap();
    })
}

fn pass(outputs: Vec<Output>) -> Pass {
    Pass {
        input_options: ["-f", "lavfi"].map(String::from).to_vec(),
        input: "testsrc2=s=64x36:r=25:d=4".into(),
        filter_graph: Some("[0:v]split=3[a][b][c]".into()),
        outputs,
        file_outputs: Vec::new(),
        timeout: Duration::from_secs(60),
    }
}

#[tokio::test]
async fn every_consumer_reads_the_whole_stream() {
    let (tx, rx) = mpsc::channel();
    let report = pass(vec![
        raw_output("[a]", counting(tx.clone())),
        raw_output("[b]", counting(tx.clone())),
        raw_output("[c]", counting(tx)),
    ])
    .run(&Ffmpeg::locate().unwrap())
    .await
    .unwrap();
    assert!(report.succeeded(), "{}", report.log);
    let counts: Vec<usize> = rx.iter().collect();
    assert_eq!(counts, [100, 100, 100]);
}

#[tokio::test]
async fn a_consumer_that_gives_up_or_panics_leaves_the_others_whole() {
    let (tx, rx) = mpsc::channel();
    let result = pass(vec![
        // Stops after one frame: the pass drains the rest.
        raw_output(
            "[a]",
            Box::new(|reader| {
                let mut frame = vec![0u8; FRAME];
                let _ = read_frame(reader, &mut frame);
            }),
        ),
        raw_output("[b]", Box::new(|_| panic!("an analyzer bug"))),
        raw_output("[c]", counting(tx)),
    ])
    .run(&Ffmpeg::locate().unwrap())
    .await;
    assert!(
        matches!(result, Err(PassError::ConsumerPanicked)),
        "{result:?}"
    );
    assert_eq!(
        rx.recv().unwrap(),
        100,
        "the healthy consumer saw every frame"
    );
}

#[tokio::test]
async fn an_output_ffmpeg_never_opens_is_given_up_when_it_exits() {
    let (tx, rx) = mpsc::channel();
    // The input cannot be opened: ffmpeg exits before connecting to any socket.
    let mut broken = pass(vec![
        raw_output("[a]", counting(tx.clone())),
        raw_output("[b]", counting(tx)),
    ]);
    broken.input = "this_source_does_not_exist".into();
    let report = broken.run(&Ffmpeg::locate().unwrap()).await.unwrap();
    assert!(!report.succeeded());
    assert!(report.log.contains("[error]"), "{}", report.log);
    // The stdout consumer saw an empty stream; the socket one never ran.
    assert_eq!(rx.iter().collect::<Vec<_>>(), [0]);
}
