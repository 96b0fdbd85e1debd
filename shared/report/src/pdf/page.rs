//! One PDF page's drawing, in layout coordinates: points from the page's top-left corner, y
//! growing down (as text is laid out), turned into PDF's bottom-left, y-up space here only.

use pdf_writer::types::{LineCapStyle, LineJoinStyle};
use pdf_writer::{Content, Str};

use super::font::Font;

/// A4 portrait, in points.
pub(crate) const PAGE_WIDTH: f32 = 595.276;
pub(crate) const PAGE_HEIGHT: f32 = 841.89;

/// An sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    fn components(self) -> (f32, f32, f32) {
        (
            f32::from(self.0) / 255.0,
            f32::from(self.1) / 255.0,
            f32::from(self.2) / 255.0,
        )
    }
}

/// Where a line of text is anchored horizontally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Center,
    Right,
}

/// A page's content stream being written.
pub(crate) struct Page {
    content: Content,
}

impl Page {
    pub fn new() -> Self {
        let mut content = Content::new();
        content.set_line_join(LineJoinStyle::RoundJoin);
        Self { content }
    }

    /// The finished content stream.
    pub fn finish(self) -> Vec<u8> {
        self.content.finish().into_vec()
    }

    pub fn fill_rect(&mut self, x: f32, y: f32, width: f32, height: f32, color: Rgb) {
        let (r, g, b) = color.components();
        self.content
            .set_fill_rgb(r, g, b)
            .rect(x, PAGE_HEIGHT - y - height, width, height)
            .fill_nonzero();
    }

    /// A straight line `width` points thick.
    pub fn line(&mut self, from: (f32, f32), to: (f32, f32), width: f32, color: Rgb) {
        self.polyline(&[from, to], width, color);
    }

    /// Connected segments through `points`, with round joins.
    pub fn polyline(&mut self, points: &[(f32, f32)], width: f32, color: Rgb) {
        let Some((&(x0, y0), rest)) = points.split_first() else {
            return;
        };
        if rest.is_empty() {
            return;
        }
        let (r, g, b) = color.components();
        self.content
            .set_stroke_rgb(r, g, b)
            .set_line_width(width)
            .set_line_cap(if points.len() > 2 {
                LineCapStyle::RoundCap
            } else {
                LineCapStyle::ButtCap
            })
            .move_to(x0, PAGE_HEIGHT - y0);
        for &(x, y) in rest {
            self.content.line_to(x, PAGE_HEIGHT - y);
        }
        self.content.stroke();
    }

    /// A filled polygon through `points`.
    pub fn fill_polygon(&mut self, points: &[(f32, f32)], color: Rgb) {
        let Some((&(x0, y0), rest)) = points.split_first() else {
            return;
        };
        let (r, g, b) = color.components();
        self.content
            .set_fill_rgb(r, g, b)
            .move_to(x0, PAGE_HEIGHT - y0);
        for &(x, y) in rest {
            self.content.line_to(x, PAGE_HEIGHT - y);
        }
        self.content.close_path().fill_nonzero();
    }

    /// A circle, filled or stroked `width` points thick: four Bézier arcs.
    pub fn circle(&mut self, center: (f32, f32), radius: f32, fill: bool, width: f32, color: Rgb) {
        // The control distance that makes a cubic Bézier a quarter circle (error < 0.03%).
        const KAPPA: f32 = 0.552_284_8;
        let (cx, cy) = (center.0, PAGE_HEIGHT - center.1);
        let k = radius * KAPPA;
        let (r, g, b) = color.components();
        if fill {
            self.content.set_fill_rgb(r, g, b);
        } else {
            self.content.set_stroke_rgb(r, g, b).set_line_width(width);
        }
        self.content
            .move_to(cx + radius, cy)
            .cubic_to(cx + radius, cy + k, cx + k, cy + radius, cx, cy + radius)
            .cubic_to(cx - k, cy + radius, cx - radius, cy + k, cx - radius, cy)
            .cubic_to(cx - radius, cy - k, cx - k, cy - radius, cx, cy - radius)
            .cubic_to(cx + k, cy - radius, cx + radius, cy - k, cx + radius, cy)
            .close_path();
        if fill {
            self.content.fill_nonzero();
        } else {
            self.content.stroke();
        }
    }

    /// One line of WinAnsi text with its baseline at `baseline`, anchored at `x`.
    #[allow(clippy::too_many_arguments)]
    pub fn text(
        &mut self,
        x: f32,
        baseline: f32,
        align: Align,
        font: Font,
        size: f32,
        color: Rgb,
        text: &[u8],
    ) {
        let width = font.width(text, size);
        let left = match align {
            Align::Left => x,
            Align::Center => x - width / 2.0,
            Align::Right => x - width,
        };
        self.text_matrix(
            [1.0, 0.0, 0.0, 1.0, left, PAGE_HEIGHT - baseline],
            font,
            size,
            color,
            text,
        );
    }

    /// Text placed by a full text matrix in PDF space (for rotated chart labels).
    pub fn text_matrix(
        &mut self,
        matrix: [f32; 6],
        font: Font,
        size: f32,
        color: Rgb,
        text: &[u8],
    ) {
        if text.is_empty() {
            return;
        }
        let (r, g, b) = color.components();
        self.content
            .begin_text()
            .set_font(font.resource(), size)
            .set_fill_rgb(r, g, b)
            .set_text_matrix(matrix)
            .show(Str(text))
            .end_text();
    }
}
