//! A `plotters` drawing backend that writes PDF vector operations onto a [`Page`]: lines, paths,
//! rectangles, polygons, circles and Helvetica text, instead of pixels. Charts therefore stay
//! sharp at any zoom and need no font file.
//!
//! plotters works in integer "pixels"; here a pixel is a quarter point, so rounding moves
//! nothing by more than 0.125 pt and a 1-pixel line is a fine 0.25 pt hairline.

use std::convert::Infallible;

use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingBackend, DrawingErrorKind,
    FontStyle, FontTransform,
};

use super::font::{ASCENT, DESCENT, Font, encode};
use super::page::{Page, Rgb};

/// Backend pixels per PDF point.
pub(crate) const UNITS_PER_POINT: f32 = 4.0;

/// Backend units for a length in points (plotters' sizes are whole pixels).
pub(crate) fn units(points: f32) -> u32 {
    (points * UNITS_PER_POINT).round().max(0.0) as u32
}

pub(crate) struct VectorBackend<'a> {
    page: &'a mut Page,
    /// The drawing's top-left corner on the page, in points.
    origin: (f32, f32),
    size: (u32, u32),
}

impl<'a> VectorBackend<'a> {
    /// A backend drawing into the `width` × `height` point box at `origin` on `page`.
    pub fn new(page: &'a mut Page, origin: (f32, f32), width: f32, height: f32) -> Self {
        Self {
            page,
            origin,
            size: (units(width), units(height)),
        }
    }

    fn point(&self, (x, y): BackendCoord) -> (f32, f32) {
        self.point_f(x as f32, y as f32)
    }

    fn point_f(&self, x: f32, y: f32) -> (f32, f32) {
        (
            self.origin.0 + x / UNITS_PER_POINT,
            self.origin.1 + y / UNITS_PER_POINT,
        )
    }
}

/// Page position of backend pixel `coord` for a backend at `origin`: to place labels after
/// plotters has drawn.
pub(crate) fn page_point(origin: (f32, f32), coord: BackendCoord) -> (f32, f32) {
    (
        origin.0 + coord.0 as f32 / UNITS_PER_POINT,
        origin.1 + coord.1 as f32 / UNITS_PER_POINT,
    )
}

/// The colour as drawn on the white page: translucency is blended with white, since a chart
/// always sits on white and the standard fonts' PDF needs no transparency groups then. `None`
/// for fully transparent.
fn opaque(color: BackendColor) -> Option<Rgb> {
    if color.alpha <= 0.0 {
        return None;
    }
    let alpha = color.alpha.min(1.0);
    let mix = |c: u8| (f64::from(c) * alpha + 255.0 * (1.0 - alpha)).round() as u8;
    Some(Rgb(mix(color.rgb.0), mix(color.rgb.1), mix(color.rgb.2)))
}

fn stroke_points(style: &impl BackendStyle) -> f32 {
    style.stroke_width() as f32 / UNITS_PER_POINT
}

fn font_of(style: &impl BackendTextStyle) -> Font {
    match style.style() {
        FontStyle::Bold => Font::Bold,
        _ => Font::Regular,
    }
}

impl DrawingBackend for VectorBackend<'_> {
    type ErrorType = Infallible;

    fn get_size(&self) -> (u32, u32) {
        self.size
    }

    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<Infallible>> {
        Ok(())
    }

    fn present(&mut self) -> Result<(), DrawingErrorKind<Infallible>> {
        Ok(())
    }

    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        color: BackendColor,
    ) -> Result<(), DrawingErrorKind<Infallible>> {
        if let Some(color) = opaque(color) {
            let (x, y) = self.point(point);
            let side = 1.0 / UNITS_PER_POINT;
            self.page.fill_rect(x, y, side, side, color);
        }
        Ok(())
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Infallible>> {
        if let Some(color) = opaque(style.color())
            && style.stroke_width() > 0
        {
            let (from, to) = (self.point(from), self.point(to));
            self.page.line(from, to, stroke_points(style), color);
        }
        Ok(())
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Infallible>> {
        let Some(color) = opaque(style.color()) else {
            return Ok(());
        };
        let (x0, y0) = self.point(upper_left);
        let (x1, y1) = self.point(bottom_right);
        let (left, top) = (x0.min(x1), y0.min(y1));
        let (width, height) = ((x1 - x0).abs(), (y1 - y0).abs());
        if fill {
            self.page.fill_rect(left, top, width, height, color);
        } else if style.stroke_width() > 0 {
            let corners = [
                (left, top),
                (left + width, top),
                (left + width, top + height),
                (left, top + height),
                (left, top),
            ];
            self.page.polyline(&corners, stroke_points(style), color);
        }
        Ok(())
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Infallible>> {
        if let Some(color) = opaque(style.color())
            && style.stroke_width() > 0
        {
            let points: Vec<(f32, f32)> = path.into_iter().map(|p| self.point(p)).collect();
            self.page.polyline(&points, stroke_points(style), color);
        }
        Ok(())
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Infallible>> {
        if let Some(color) = opaque(style.color()) {
            let center = self.point(center);
            let radius = radius as f32 / UNITS_PER_POINT;
            self.page
                .circle(center, radius, fill, stroke_points(style).max(0.25), color);
        }
        Ok(())
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Infallible>> {
        if let Some(color) = opaque(style.color()) {
            let points: Vec<(f32, f32)> = vert.into_iter().map(|p| self.point(p)).collect();
            self.page.fill_polygon(&points, color);
        }
        Ok(())
    }

    fn draw_text<TStyle: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &TStyle,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<Infallible>> {
        let Some(color) = opaque(style.color()) else {
            return Ok(());
        };
        let font = font_of(style);
        let size_units = style.size() as f32;
        let size = size_units / UNITS_PER_POINT;
        let encoded = encode(text);
        let width_units = font.width(&encoded, size) * UNITS_PER_POINT;
        let anchor = style.anchor();
        // The baseline's start relative to the anchor, in the text's own (unrotated) frame.
        let dx = match anchor.h_pos {
            HPos::Left => 0.0,
            HPos::Center => -width_units / 2.0,
            HPos::Right => -width_units,
        };
        let dy = match anchor.v_pos {
            VPos::Top => ASCENT * size_units,
            // The middle of a capital or digit sits on the anchor.
            VPos::Center => ASCENT * size_units / 2.0,
            VPos::Bottom => -DESCENT * size_units,
        };
        // The same turns plotters applies to its own text, as (offset, PDF text matrix).
        let ((ox, oy), [a, b, c, d]) = match style.transform() {
            FontTransform::None => ((dx, dy), [1.0, 0.0, 0.0, 1.0]),
            FontTransform::Rotate90 => ((-dy, dx), [0.0, -1.0, 1.0, 0.0]),
            FontTransform::Rotate180 => ((-dx, -dy), [-1.0, 0.0, 0.0, -1.0]),
            FontTransform::Rotate270 => ((dy, -dx), [0.0, 1.0, -1.0, 0.0]),
        };
        let (x, y) = self.point_f(pos.0 as f32 + ox, pos.1 as f32 + oy);
        let matrix = [a, b, c, d, x, super::page::PAGE_HEIGHT - y];
        self.page.text_matrix(matrix, font, size, color, &encoded);
        Ok(())
    }

    fn estimate_text_size<TStyle: BackendTextStyle>(
        &self,
        text: &str,
        style: &TStyle,
    ) -> Result<(u32, u32), DrawingErrorKind<Infallible>> {
        let size = style.size() as f32 / UNITS_PER_POINT;
        let width = font_of(style).width(&encode(text), size);
        Ok((units(width), units(size * (ASCENT + DESCENT))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translucent_colours_blend_with_white() {
        let half_black = BackendColor {
            alpha: 0.5,
            rgb: (0, 0, 0),
        };
        assert_eq!(opaque(half_black), Some(Rgb(128, 128, 128)));
        let invisible = BackendColor {
            alpha: 0.0,
            rgb: (0, 0, 0),
        };
        assert_eq!(opaque(invisible), None);
    }

    #[test]
    fn a_unit_is_a_quarter_point() {
        assert_eq!(units(10.0), 40);
        assert_eq!(page_point((10.0, 20.0), (40, 8)), (20.0, 22.0));
    }
}
