//! Plane geometry of DB post-processing: OpenCV's `minAreaRect` (rotating calipers on the convex
//! hull, kept in `f64` — imageproc's `min_area_rect` rounds its corners outwards to integers,
//! which would grow every box by up to a pixel of the detection map), RapidOCR's two corner
//! orderings and the mean of a map inside a quadrilateral.

use imageproc::point::Point;

pub(crate) type Pt = [f64; 2];

/// The minimum-area rectangle around `points`: its corners in cyclic order and its shorter
/// side (`min(size)` of `cv2.minAreaRect`). `None` for fewer than three non-collinear points,
/// whose rectangle has no area (OpenCV returns a zero side, which every caller rejects).
pub(crate) fn min_area_rect(points: &[Point<i32>]) -> Option<([Pt; 4], f64)> {
    let hull = imageproc::geometry::convex_hull(points);
    if hull.len() < 3 {
        return None;
    }
    let hull: Vec<Pt> = hull.iter().map(|p| [p.x as f64, p.y as f64]).collect();
    let mut best: Option<(f64, [Pt; 4], f64)> = None;
    for i in 0..hull.len() {
        let a = hull[i];
        let b = hull[(i + 1) % hull.len()];
        let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
        let len = dx.hypot(dy);
        if len == 0.0 {
            continue;
        }
        let u = [dx / len, dy / len];
        let v = [-u[1], u[0]];
        let (mut u0, mut u1, mut v0, mut v1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for p in &hull {
            let pu = p[0] * u[0] + p[1] * u[1];
            let pv = p[0] * v[0] + p[1] * v[1];
            u0 = u0.min(pu);
            u1 = u1.max(pu);
            v0 = v0.min(pv);
            v1 = v1.max(pv);
        }
        let area = (u1 - u0) * (v1 - v0);
        if best.as_ref().is_none_or(|(a, _, _)| area < *a) {
            let at = |pu: f64, pv: f64| [pu * u[0] + pv * v[0], pu * u[1] + pv * v[1]];
            let corners = [at(u0, v0), at(u1, v0), at(u1, v1), at(u0, v1)];
            best = Some((area, corners, (u1 - u0).min(v1 - v0)));
        }
    }
    best.map(|(_, corners, short)| (corners, short))
}

/// RapidOCR's `get_mini_boxes` ordering: sort by x; of the two leftmost points the upper is
/// first and the lower last, of the two rightmost the upper is second and the lower third.
pub(crate) fn order_mini_box(corners: [Pt; 4]) -> [Pt; 4] {
    let mut p = corners;
    p.sort_by(|a, b| a[0].total_cmp(&b[0]));
    let (i1, i4) = if p[1][1] > p[0][1] { (0, 1) } else { (1, 0) };
    let (i2, i3) = if p[3][1] > p[2][1] { (2, 3) } else { (3, 2) };
    [p[i1], p[i2], p[i3], p[i4]]
}

/// RapidOCR's `order_points_clockwise` (imutils): the two leftmost points become top-left and
/// bottom-left by y, the two rightmost top-right and bottom-right.
pub(crate) fn order_clockwise(points: [Pt; 4]) -> [Pt; 4] {
    let mut p = points;
    p.sort_by(|a, b| a[0].total_cmp(&b[0]));
    let (tl, bl) = if p[1][1] < p[0][1] {
        (p[1], p[0])
    } else {
        (p[0], p[1])
    };
    let (tr, br) = if p[3][1] < p[2][1] {
        (p[3], p[2])
    } else {
        (p[2], p[3])
    };
    [tl, tr, br, bl]
}

/// RapidOCR's `box_score_fast`: the mean of `map` (row-major, `width × height`) over the pixels
/// of the quadrilateral, edges included, as `cv2.fillPoly` on the integer-truncated corners.
pub(crate) fn mean_inside(map: &[f32], width: usize, height: usize, quad: &[Pt; 4]) -> f64 {
    let clamp = |v: f64, hi: usize| (v as i64).clamp(0, hi as i64 - 1);
    let xmin = clamp(
        quad.iter().map(|p| p[0]).fold(f64::MAX, f64::min).floor(),
        width,
    );
    let xmax = clamp(
        quad.iter().map(|p| p[0]).fold(f64::MIN, f64::max).ceil(),
        width,
    );
    let ymin = clamp(
        quad.iter().map(|p| p[1]).fold(f64::MAX, f64::min).floor(),
        height,
    );
    let ymax = clamp(
        quad.iter().map(|p| p[1]).fold(f64::MIN, f64::max).ceil(),
        height,
    );
    // Corners relative to the crop, truncated towards zero as numpy's astype(int32) does.
    let poly: Vec<[f64; 2]> = quad
        .iter()
        .map(|p| {
            [
                (p[0] - xmin as f64).trunc() + xmin as f64,
                (p[1] - ymin as f64).trunc() + ymin as f64,
            ]
        })
        .collect();
    let (mut sum, mut count) = (0.0f64, 0u64);
    for y in ymin..=ymax {
        let Some((left, right)) = row_span(&poly, y as f64) else {
            continue;
        };
        let x0 = (left - 1e-9).ceil().max(xmin as f64) as i64;
        let x1 = (right + 1e-9).floor().min(xmax as f64) as i64;
        for x in x0..=x1 {
            sum += f64::from(map[y as usize * width + x as usize]);
            count += 1;
        }
    }
    if count == 0 { 0.0 } else { sum / count as f64 }
}

/// Where the horizontal line at `y` crosses the (convex) polygon: its leftmost and rightmost x.
fn row_span(poly: &[[f64; 2]], y: f64) -> Option<(f64, f64)> {
    let mut span: Option<(f64, f64)> = None;
    let mut include = |x: f64| {
        span = Some(match span {
            None => (x, x),
            Some((l, r)) => (l.min(x), r.max(x)),
        });
    };
    for i in 0..poly.len() {
        let [x1, y1] = poly[i];
        let [x2, y2] = poly[(i + 1) % poly.len()];
        if y < y1.min(y2) || y > y1.max(y2) {
            continue;
        }
        if y1 == y2 {
            include(x1);
            include(x2);
        } else {
            include(x1 + (y - y1) * (x2 - x1) / (y2 - y1));
        }
    }
    span
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(v: &[(i32, i32)]) -> Vec<Point<i32>> {
        v.iter().map(|&(x, y)| Point::new(x, y)).collect()
    }

    #[test]
    fn min_area_rect_of_an_axis_aligned_block_is_its_bounds() {
        let points = pts(&[(2, 3), (10, 3), (10, 7), (2, 7), (5, 5)]);
        let (corners, short) = min_area_rect(&points).unwrap();
        let ordered = order_mini_box(corners);
        assert_eq!(ordered, [[2.0, 3.0], [10.0, 3.0], [10.0, 7.0], [2.0, 7.0]]);
        assert!((short - 4.0).abs() < 1e-9);
    }

    #[test]
    fn min_area_rect_follows_a_rotated_strip() {
        // A thin strip along the diagonal: the tight rectangle is thin, the axis-aligned one is not.
        let points: Vec<Point<i32>> = (0..50)
            .flat_map(|i| [Point::new(i, i), Point::new(i + 1, i)])
            .collect();
        let (_, short) = min_area_rect(&points).unwrap();
        assert!(short < 1.0, "short side {short}");
    }

    #[test]
    fn collinear_points_have_no_rectangle() {
        assert!(min_area_rect(&pts(&[(0, 0), (5, 0), (9, 0)])).is_none());
    }

    #[test]
    fn clockwise_order_is_tl_tr_br_bl() {
        let shuffled = [[9.0, 8.0], [1.0, 1.0], [9.0, 1.0], [1.0, 8.0]];
        assert_eq!(
            order_clockwise(shuffled),
            [[1.0, 1.0], [9.0, 1.0], [9.0, 8.0], [1.0, 8.0]]
        );
    }

    #[test]
    fn mean_inside_covers_edges_and_nothing_else() {
        let (w, h) = (10, 10);
        let mut map = vec![0.0f32; w * h];
        for y in 2..=5 {
            for x in 3..=7 {
                map[y * w + x] = 1.0;
            }
        }
        let quad = [[3.0, 2.0], [7.0, 2.0], [7.0, 5.0], [3.0, 5.0]];
        assert!((mean_inside(&map, w, h, &quad) - 1.0).abs() < 1e-9);
        let wider = [[2.0, 2.0], [7.0, 2.0], [7.0, 5.0], [2.0, 5.0]];
        assert!((mean_inside(&map, w, h, &wider) - 20.0 / 24.0).abs() < 1e-9);
    }
}
