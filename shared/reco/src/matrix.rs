//! A compressed sparse row matrix of user–item values: the shape every trainer reads.

use serde::{Deserialize, Serialize};

/// Rows are users (or items, once transposed); each row's columns are sorted and unique.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Csr {
    cols: usize,
    indptr: Vec<usize>,
    indices: Vec<u32>,
    values: Vec<f32>,
}

impl Csr {
    /// Builds the matrix from `(row, col, value)` triplets; repeated cells are summed.
    ///
    /// # Panics
    /// If a triplet lies outside `rows × cols` (callers index their own data).
    pub fn from_triplets(
        rows: usize,
        cols: usize,
        triplets: impl IntoIterator<Item = (u32, u32, f32)>,
    ) -> Self {
        let mut entries: Vec<(u32, u32, f32)> = triplets.into_iter().collect();
        for &(r, c, _) in &entries {
            assert!(
                (r as usize) < rows && (c as usize) < cols,
                "cell ({r}, {c}) outside a {rows}×{cols} matrix"
            );
        }
        entries.sort_unstable_by_key(|&(r, c, _)| (r, c));
        let mut indptr = vec![0usize; rows + 1];
        let mut indices = Vec::with_capacity(entries.len());
        let mut values: Vec<f32> = Vec::with_capacity(entries.len());
        let mut last = None;
        for (r, c, v) in entries {
            if last == Some((r, c)) {
                *values
                    .last_mut()
                    .expect("a repeated cell follows its first") += v;
                continue;
            }
            last = Some((r, c));
            indptr[r as usize + 1] += 1;
            indices.push(c);
            values.push(v);
        }
        for r in 0..rows {
            indptr[r + 1] += indptr[r];
        }
        Csr {
            cols,
            indptr,
            indices,
            values,
        }
    }

    pub fn rows(&self) -> usize {
        self.indptr.len() - 1
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Stored (non-zero) cells.
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// One row's columns (ascending) and their values.
    pub fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let span = self.indptr[r]..self.indptr[r + 1];
        (&self.indices[span.clone()], &self.values[span])
    }

    /// Whether `(r, c)` is stored.
    pub fn contains(&self, r: usize, c: u32) -> bool {
        self.row(r).0.binary_search(&c).is_ok()
    }

    /// The same values with rows and columns swapped.
    pub fn transpose(&self) -> Csr {
        let mut counts = vec![0usize; self.cols + 1];
        for &c in &self.indices {
            counts[c as usize + 1] += 1;
        }
        for c in 0..self.cols {
            counts[c + 1] += counts[c];
        }
        let indptr = counts.clone();
        let mut next = counts;
        let mut indices = vec![0u32; self.nnz()];
        let mut values = vec![0f32; self.nnz()];
        for r in 0..self.rows() {
            let (cols, vals) = self.row(r);
            for (&c, &v) in cols.iter().zip(vals) {
                let at = next[c as usize];
                indices[at] = r as u32;
                values[at] = v;
                next[c as usize] += 1;
            }
        }
        Csr {
            cols: self.rows(),
            indptr,
            indices,
            values,
        }
    }

    /// The same sparsity with each value replaced by `f(value)`.
    pub fn map_values(&self, f: impl Fn(f32) -> f32) -> Csr {
        Csr {
            values: self.values.iter().map(|&v| f(v)).collect(),
            ..self.clone()
        }
    }

    /// Every stored cell as `(row, col, value)`.
    pub fn triplets(&self) -> impl Iterator<Item = (u32, u32, f32)> + '_ {
        (0..self.rows()).flat_map(move |r| {
            let (cols, vals) = self.row(r);
            cols.iter().zip(vals).map(move |(&c, &v)| (r as u32, c, v))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_cells_are_summed_and_rows_sorted() {
        let m = Csr::from_triplets(3, 4, [(2, 1, 1.0), (0, 3, 2.0), (0, 1, 1.0), (0, 3, 0.5)]);
        assert_eq!(m.nnz(), 3);
        assert_eq!(m.row(0), (&[1u32, 3][..], &[1.0f32, 2.5][..]));
        assert_eq!(m.row(1), (&[][..], &[][..]));
        assert!(m.contains(2, 1) && !m.contains(2, 0));
    }

    #[test]
    fn transposing_twice_gives_the_matrix_back() {
        let m = Csr::from_triplets(3, 4, [(2, 1, 1.0), (0, 3, 2.0), (1, 1, 7.0)]);
        let t = m.transpose();
        assert_eq!((t.rows(), t.cols()), (4, 3));
        assert_eq!(t.row(1), (&[1u32, 2][..], &[7.0f32, 1.0][..]));
        assert_eq!(t.transpose(), m);
    }

    #[test]
    #[should_panic(expected = "outside a 2×2 matrix")]
    fn a_cell_outside_the_shape_is_a_caller_bug() {
        Csr::from_triplets(2, 2, [(0, 2, 1.0)]);
    }
}
