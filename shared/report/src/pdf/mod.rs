//! PDF: the report laid out on A4 pages ([`layout`]), charts drawn by plotters as vectors
//! ([`chart`], [`backend`]), text in the standard Helvetica fonts ([`font`]), written with
//! `pdf-writer` and deflate-compressed.

mod backend;
mod chart;
mod font;
mod layout;
mod metrics;
mod page;

use chrono::{Datelike, Timelike};
use mvidarr_core::Timestamp;
use mvidarr_core::analytics::report::ReportData;
use pdf_writer::types::FontFlags;
use pdf_writer::{Date, Filter, Finish, Name, Pdf, Rect, Ref, TextStr};

use self::font::{Font, encode, truncate};
use self::layout::{CONTENT_WIDTH, MARGIN_X, MUTED, RULE};
use self::page::{Align, PAGE_HEIGHT, PAGE_WIDTH, Page};
use crate::RenderError;
use crate::heading::title;

const CATALOG: Ref = Ref::new(1);
const PAGE_TREE: Ref = Ref::new(2);
const INFO: Ref = Ref::new(3);
/// Fonts and their descriptors take the next ids, then each page its page object and content
/// stream.
const FIRST_FONT: i32 = 4;
/// The first code the fonts' width arrays describe (space): no control code is ever shown.
const FIRST_CHAR: u8 = 32;

pub(crate) fn render(report: &ReportData) -> Result<Vec<u8>, RenderError> {
    let mut pages = layout::lay_out(report)?;
    let count = pages.len();
    let footer_left = format!("{} \u{2013} {}", title(report), report.tenant);
    for (i, page) in pages.iter_mut().enumerate() {
        footer(page, &footer_left, i + 1, count);
    }

    let font_ids: Vec<(Font, Ref)> = Font::ALL
        .iter()
        .enumerate()
        .map(|(i, &font)| (font, Ref::new(FIRST_FONT + 2 * i as i32)))
        .collect();
    let first_page = FIRST_FONT + 2 * font_ids.len() as i32;
    let page_ids: Vec<(Ref, Ref)> = (0..count)
        .map(|i| {
            let id = first_page + 2 * i as i32;
            (Ref::new(id), Ref::new(id + 1))
        })
        .collect();

    let mut pdf = Pdf::new();
    pdf.catalog(CATALOG).pages(PAGE_TREE);
    pdf.pages(PAGE_TREE)
        .kids(page_ids.iter().map(|&(page, _)| page))
        .count(count as i32);
    for &(font, id) in &font_ids {
        let descriptor = Ref::new(id.get() + 1);
        pdf.type1_font(id)
            .base_font(font.base_font())
            .encoding_predefined(Name(b"WinAnsiEncoding"))
            .first_char(FIRST_CHAR)
            .last_char(255)
            .widths(font.widths_from(FIRST_CHAR))
            .font_descriptor(descriptor);
        let ([left, bottom, right, top], stem) = font.bbox_and_stem();
        pdf.font_descriptor(descriptor)
            .name(font.base_font())
            .flags(FontFlags::NON_SYMBOLIC)
            .bbox(Rect::new(left, bottom, right, top))
            .italic_angle(0.0)
            .ascent(font::ASCENT * 1000.0)
            .descent(-font::DESCENT * 1000.0)
            .cap_height(font::ASCENT * 1000.0)
            .stem_v(stem);
    }
    for (page, &(page_id, content_id)) in pages.into_iter().zip(&page_ids) {
        let mut writer = pdf.page(page_id);
        writer
            .parent(PAGE_TREE)
            .media_box(Rect::new(0.0, 0.0, PAGE_WIDTH, PAGE_HEIGHT))
            .contents(content_id);
        let mut resources = writer.resources();
        let mut fonts = resources.fonts();
        for &(font, id) in &font_ids {
            fonts.pair(font.resource(), id);
        }
        fonts.finish();
        resources.finish();
        writer.finish();
        let compressed = miniz_oxide::deflate::compress_to_vec_zlib(&page.finish(), 6);
        pdf.stream(content_id, &compressed)
            .filter(Filter::FlateDecode);
    }
    let document_title = format!("{} \u{2013} {}", title(report), report.tenant);
    pdf.document_info(INFO)
        .title(TextStr(&document_title))
        .creator(TextStr("MVidarr"))
        .producer(TextStr("mvidarr-report"))
        .creation_date(pdf_date(report.generated_at));
    Ok(pdf.finish())
}

/// "Title – tenant" on the left, "Page n of N" on the right, under a hairline.
fn footer(page: &mut Page, left_text: &str, number: usize, count: usize) {
    let rule_y = PAGE_HEIGHT - 44.0;
    let baseline = PAGE_HEIGHT - 30.0;
    page.line(
        (MARGIN_X, rule_y),
        (MARGIN_X + CONTENT_WIDTH, rule_y),
        0.5,
        RULE,
    );
    let numbering = encode(&format!("Page {number} of {count}"));
    let numbering_width = Font::Regular.width(&numbering, 8.0);
    let left = truncate(
        Font::Regular,
        &encode(left_text),
        8.0,
        CONTENT_WIDTH - numbering_width - 20.0,
    );
    page.text(
        MARGIN_X,
        baseline,
        Align::Left,
        Font::Regular,
        8.0,
        MUTED,
        &left,
    );
    page.text(
        MARGIN_X + CONTENT_WIDTH,
        baseline,
        Align::Right,
        Font::Regular,
        8.0,
        MUTED,
        &numbering,
    );
}

fn pdf_date(at: Timestamp) -> Date {
    let mut date = Date::new(u16::try_from(at.year().clamp(0, 9999)).unwrap_or(0));
    // Each part fits its PDF field by construction (month 1–12, hour 0–23, ...).
    let part = |n: u32| u8::try_from(n).unwrap_or(0);
    date = date
        .month(part(at.month()))
        .day(part(at.day()))
        .hour(part(at.hour()))
        .minute(part(at.minute()))
        .second(part(at.second().min(59)))
        .utc_offset_hour(0)
        .utc_offset_minute(0);
    date
}
