//! Factor rows as 8-bit codes, for serving: scoring a whole catalogue reads every item vector
//! once per request, and at 100,000 × 64 factors that is 25.6 MB of `f32` — memory bandwidth,
//! not arithmetic, sets the latency. Codes are a quarter of that. Each row has its own scale
//! (its largest magnitude maps to 127), the query is coded the same way, and the dot product is
//! exact integer arithmetic; callers re-rank the best candidates with the `f32` factors, so
//! the codes' ~1% error only decides which few hundred items are looked at exactly.

/// Rows of `dim` codes with one scale each.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QuantizedRows {
    dim: usize,
    scales: Vec<f32>,
    codes: Vec<i8>,
}

impl QuantizedRows {
    /// Codes for row-major `data` of `dim` columns.
    pub fn new(data: &[f32], dim: usize) -> Self {
        let mut scales = Vec::with_capacity(data.len() / dim.max(1));
        let mut codes = Vec::with_capacity(data.len());
        for row in data.chunks_exact(dim.max(1)) {
            let (scale, row_codes) = quantize(row);
            scales.push(scale);
            codes.extend(row_codes);
        }
        QuantizedRows { dim, scales, codes }
    }

    /// Every row's approximate dot product with `query`.
    pub fn scores(&self, query: &[f32]) -> Vec<f32> {
        self.scores_iter(query).collect()
    }

    /// The same, row by row, for callers that keep only the best (no catalogue-sized vector).
    pub fn scores_iter<'a>(&'a self, query: &[f32]) -> impl Iterator<Item = f32> + 'a {
        let (query_scale, q) = quantize(query);
        self.codes
            .chunks_exact(self.dim.max(1))
            .zip(&self.scales)
            .map(move |(row, &scale)| int_dot(row, &q) as f32 * scale * query_scale)
    }
}

/// A scale and codes with `value ≈ code × scale`.
fn quantize(row: &[f32]) -> (f32, Vec<i8>) {
    let max = row.iter().fold(0f32, |m, v| m.max(v.abs()));
    if max == 0.0 || !max.is_finite() {
        return (0.0, vec![0; row.len()]);
    }
    let scale = max / 127.0;
    let codes = row
        .iter()
        .map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8)
        .collect();
    (scale, codes)
}

/// Exact integer dot product (64 products of ≤ 127² cannot overflow an i32). Sixteen
/// independent lanes, so the compiler turns it into widening multiply-adds.
fn int_dot(a: &[i8], b: &[i8]) -> i32 {
    let split = a.len() / 16 * 16;
    let mut acc = [0i32; 16];
    for (x, y) in a[..split].chunks_exact(16).zip(b[..split].chunks_exact(16)) {
        for j in 0..16 {
            acc[j] += i32::from(x[j]) * i32::from(y[j]);
        }
    }
    let tail: i32 = a[split..]
        .iter()
        .zip(&b[split..])
        .map(|(&x, &y)| i32::from(x) * i32::from(y))
        .sum();
    acc.iter().sum::<i32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approximate_scores_are_within_a_few_percent_of_exact_ones() {
        let dim = 64;
        let data: Vec<f32> = (0..dim * 50)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 17.0)
            .collect();
        let query: Vec<f32> = (0..dim)
            .map(|i| ((i * 13 % 29) as f32 - 14.0) / 9.0)
            .collect();
        let q = QuantizedRows::new(&data, dim);
        let approx = q.scores(&query);
        let query_norm = query.iter().map(|v| v * v).sum::<f32>().sqrt();
        for (row, got) in data.chunks_exact(dim).zip(approx) {
            let exact: f32 = row.iter().zip(&query).map(|(a, b)| a * b).sum();
            let row_norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
            assert!(
                (got - exact).abs() <= 0.02 * row_norm * query_norm,
                "{got} vs {exact}"
            );
        }
    }

    #[test]
    fn zero_rows_and_queries_score_zero() {
        let q = QuantizedRows::new(&[0.0, 0.0, 1.0, 2.0], 2);
        assert_eq!(q.scores(&[1.0, 1.0])[0], 0.0);
        assert_eq!(q.scores(&[0.0, 0.0]), [0.0, 0.0]);
    }
}
