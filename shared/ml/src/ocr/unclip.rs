//! DB's "unclip": growing a shrunk text region back to the text's extent.
//!
//! RapidOCR offsets the box polygon with pyclipper (Clipper 6.4.2, round joins) by
//! `area × unclip_ratio / perimeter` (area and perimeter by shapely, on the float corners) and
//! takes `minAreaRect` of the result. This is a hand port of the part of Clipper's
//! `ClipperOffset` that runs for one closed convex polygon, rather than a polygon-clipping crate:
//! the input is always a single quadrilateral, and what decides the box is Clipper's integer
//! arithmetic — corners truncated to integers on the way in (pyclipper's conversion), arc steps
//! from its arc tolerance, every output vertex rounded half away from zero — which a general
//! offsetting library (`geo`, `i_overlay`) would not reproduce. The union Clipper runs
//! afterwards only removes points inside the outline, so the convex hull that `minAreaRect`
//! looks at is unchanged and it is not needed here.

use imageproc::point::Point;

use super::geometry::{self, Pt};

/// Clipper's default `ArcTolerance`.
const ARC_TOLERANCE: f64 = 0.25;

/// Clipper's `Round`: half away from zero.
fn round(v: f64) -> i32 {
    if v < 0.0 {
        (v - 0.5) as i32
    } else {
        (v + 0.5) as i32
    }
}

/// The grown rectangle (corners in cyclic order) and its shorter side, or `None` when the
/// polygon degenerates (fewer than three distinct integer corners).
pub(crate) fn unclip(quad: [Pt; 4], ratio: f64) -> Option<([Pt; 4], f64)> {
    let area = shoelace(&quad).abs();
    let perimeter: f64 = (0..4)
        .map(|i| {
            let (a, b) = (quad[i], quad[(i + 1) % 4]);
            (b[0] - a[0]).hypot(b[1] - a[1])
        })
        .sum();
    if perimeter == 0.0 {
        return None;
    }
    let delta = area * ratio / perimeter;
    let points = offset_round(&quad, delta)?;
    geometry::min_area_rect(&points)
}

fn shoelace(poly: &[Pt]) -> f64 {
    (0..poly.len())
        .map(|i| {
            let (a, b) = (poly[i], poly[(i + 1) % poly.len()]);
            a[0] * b[1] - b[0] * a[1]
        })
        .sum::<f64>()
        / 2.0
}

/// `ClipperOffset::AddPath` + `Execute(delta)` for one closed polygon with `jtRound`, `delta > 0`:
/// the vertices of the offset outline.
fn offset_round(quad: &[Pt; 4], delta: f64) -> Option<Vec<Point<i32>>> {
    // pyclipper converts coordinates to integers by truncation.
    let mut path: Vec<[i64; 2]> = Vec::with_capacity(4);
    for p in quad {
        let q = [p[0] as i64, p[1] as i64];
        if path.last() != Some(&q) {
            path.push(q);
        }
    }
    while path.len() > 1 && path.first() == path.last() {
        path.pop();
    }
    if path.len() < 3 {
        return None;
    }
    // FixOrientations: Clipper's Area (y down) must be ≥ 0 for the offset to grow the polygon.
    let clipper_area = -(0..path.len())
        .map(|i| {
            let j = (i + path.len() - 1) % path.len();
            (path[j][0] + path[i][0]) as f64 * (path[j][1] - path[i][1]) as f64
        })
        .sum::<f64>()
        * 0.5;
    if clipper_area < 0.0 {
        path.reverse();
    }
    let n = path.len();
    let normals: Vec<[f64; 2]> = (0..n)
        .map(|j| {
            let (a, b) = (path[j], path[(j + 1) % n]);
            let (dx, dy) = ((b[0] - a[0]) as f64, (b[1] - a[1]) as f64);
            if dx == 0.0 && dy == 0.0 {
                return [0.0, 0.0];
            }
            let f = 1.0 / (dx * dx + dy * dy).sqrt();
            [dy * f, -dx * f]
        })
        .collect();

    // DoOffset's arc set-up.
    let y = if ARC_TOLERANCE > delta * ARC_TOLERANCE {
        delta * ARC_TOLERANCE
    } else {
        ARC_TOLERANCE
    };
    let mut steps = std::f64::consts::PI / (1.0 - y / delta).acos();
    if steps > delta * std::f64::consts::PI {
        steps = delta * std::f64::consts::PI;
    }
    let two_pi = 2.0 * std::f64::consts::PI;
    let (sin, cos) = (two_pi / steps).sin_cos();
    let steps_per_rad = steps / two_pi;

    let mut out = Vec::new();
    let at = |p: [i64; 2], n: [f64; 2]| {
        Point::new(
            round(p[0] as f64 + n[0] * delta),
            round(p[1] as f64 + n[1] * delta),
        )
    };
    for j in 0..n {
        let k = (j + n - 1) % n;
        let (nk, nj, p) = (normals[k], normals[j], path[j]);
        let mut sin_a = nk[0] * nj[1] - nj[0] * nk[1];
        let cos_a = nk[0] * nj[0] + nk[1] * nj[1];
        if (sin_a * delta).abs() < 1.0 {
            if cos_a > 0.0 {
                out.push(at(p, nk));
                continue;
            }
        } else {
            sin_a = sin_a.clamp(-1.0, 1.0);
        }
        if sin_a * delta < 0.0 {
            out.push(at(p, nk));
            out.push(Point::new(p[0] as i32, p[1] as i32));
            out.push(at(p, nj));
        } else {
            // DoRound.
            let a = sin_a.atan2(cos_a);
            let count = round(steps_per_rad * a.abs()).max(1);
            let (mut x, mut y) = (nk[0], nk[1]);
            for _ in 0..count {
                out.push(at(p, [x, y]));
                let x2 = x;
                x = x * cos - sin * y;
                y = x2 * sin + y * cos;
            }
            out.push(at(p, nj));
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outline(quad: [Pt; 4], delta: f64) -> Vec<(i32, i32)> {
        let mut points: Vec<(i32, i32)> = offset_round(&quad, delta)
            .unwrap()
            .iter()
            .map(|p| (p.x, p.y))
            .collect();
        points.sort_unstable();
        points.dedup();
        points
    }

    #[test]
    fn offset_matches_pyclipper() {
        // pyclipper 1.4.0: PyclipperOffset().AddPath([[0.7,0.7],[10.6,0.7],[10.6,5.9],[0.7,5.9]],
        // JT_ROUND, ET_CLOSEDPOLYGON); Execute(2.0) →
        // [[12,-1],[12,5],[11,7],[0,7],[-2,6],[-2,0],[-1,-2],[10,-2]] after its union removed
        // the collinear points; every one of those is among ours.
        let got = outline([[0.7, 0.7], [10.6, 0.7], [10.6, 5.9], [0.7, 5.9]], 2.0);
        for p in [
            (12, -1),
            (12, 5),
            (11, 7),
            (0, 7),
            (-2, 6),
            (-2, 0),
            (-1, -2),
            (10, -2),
        ] {
            assert!(got.contains(&p), "{p:?} missing from {got:?}");
        }
        // The rest lie on the outline's straight edges.
        for &(x, y) in &got {
            assert!(
                x == -2 || x == 12 || y == -2 || y == 7 || [(11, 7), (-1, -2)].contains(&(x, y)),
                "{x},{y} off the outline"
            );
        }
        // Anticlockwise input grows the same way.
        let reversed = outline([[0.7, 5.9], [10.6, 5.9], [10.6, 0.7], [0.7, 0.7]], 2.0);
        assert_eq!(got, reversed);
    }

    #[test]
    fn unclip_grows_each_side_by_area_ratio_over_perimeter() {
        let rect = [[0.0, 0.0], [100.0, 0.0], [100.0, 20.0], [0.0, 20.0]];
        let (grown, short) = unclip(rect, 1.6).unwrap();
        let d = 100.0 * 20.0 * 1.6 / 240.0;
        let xs = grown.map(|p| p[0]);
        let ys = grown.map(|p| p[1]);
        let min = |v: [f64; 4]| v.iter().copied().fold(f64::MAX, f64::min);
        let max = |v: [f64; 4]| v.iter().copied().fold(f64::MIN, f64::max);
        // Within Clipper's rounding to whole pixels.
        assert!((min(xs) + d).abs() <= 0.5 && (max(xs) - 100.0 - d).abs() <= 0.5);
        assert!((min(ys) + d).abs() <= 0.5 && (max(ys) - 20.0 - d).abs() <= 0.5);
        assert!((short - (20.0 + 2.0 * d)).abs() <= 1.0);
    }

    #[test]
    fn degenerate_quads_do_not_unclip() {
        let line = [[0.2, 0.0], [10.0, 0.0], [10.9, 0.0], [0.0, 0.5]];
        assert!(unclip(line, 1.6).is_none());
    }
}
