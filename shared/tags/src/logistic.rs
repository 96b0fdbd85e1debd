//! L2-regularised logistic regression, fitted by Newton's method with each Newton system
//! solved by preconditioned conjugate gradients (truncated Newton, as LIBLINEAR's solvers).
//! Hessian–vector products read the design only through its non-zeros, and feature vectors
//! are mostly zeros (hashed text), so a fit costs a few hundred passes over the non-zeros.
//!
//! The objective is `Σ log(1 + exp(−yᵢ zᵢ)) + λ/2 ‖w‖² + λ_b/2 b²` with `zᵢ = w·xᵢ + b`. The bias
//! is penalised too, lightly ([`BIAS_L2_SHARE`] of λ): that keeps it finite when every example
//! has the same label, where the unpenalised optimum is at infinity. Separable data is handled
//! by the same penalty on the weights. Everything runs sequentially in a fixed order, so a fit
//! is deterministic.

/// The bias's penalty as a share of the weights' λ.
const BIAS_L2_SHARE: f64 = 0.01;
const MAX_NEWTON_STEPS: usize = 100;
/// Stop when the gradient's norm has shrunk by this factor (from its first value, at least 1).
const GRADIENT_TOLERANCE: f64 = 1e-6;
const MAX_CG_STEPS: usize = 250;

/// Feature vectors as sparse rows (the non-zeros of dense vectors), plus an implicit constant 1
/// for the bias, which is the last parameter.
#[derive(Debug, Clone)]
pub(crate) struct Design {
    dim: usize,
    indptr: Vec<usize>,
    indices: Vec<u32>,
    values: Vec<f64>,
}

impl Design {
    /// Rows of length `dim` (the caller checks lengths).
    pub(crate) fn from_dense<'a>(dim: usize, rows: impl IntoIterator<Item = &'a [f32]>) -> Self {
        let mut design = Design {
            dim,
            indptr: vec![0],
            indices: Vec::new(),
            values: Vec::new(),
        };
        for row in rows {
            debug_assert_eq!(row.len(), dim);
            for (j, &v) in row.iter().enumerate() {
                if v != 0.0 {
                    design.indices.push(j as u32);
                    design.values.push(f64::from(v));
                }
            }
            design.indptr.push(design.indices.len());
        }
        design
    }

    /// The rows whose positions are given, in that order.
    pub(crate) fn select(&self, rows: &[usize]) -> Self {
        let mut out = Design {
            dim: self.dim,
            indptr: vec![0],
            indices: Vec::new(),
            values: Vec::new(),
        };
        for &r in rows {
            let span = self.indptr[r]..self.indptr[r + 1];
            out.indices.extend_from_slice(&self.indices[span.clone()]);
            out.values.extend_from_slice(&self.values[span]);
            out.indptr.push(out.indices.len());
        }
        out
    }

    pub(crate) fn rows(&self) -> usize {
        self.indptr.len() - 1
    }

    /// `θ·[x_r, 1]` for parameters `θ` of length `dim + 1`.
    pub(crate) fn margin(&self, r: usize, theta: &[f64]) -> f64 {
        let span = self.indptr[r]..self.indptr[r + 1];
        let mut z = theta[self.dim];
        for (&j, &v) in self.indices[span.clone()].iter().zip(&self.values[span]) {
            z += v * theta[j as usize];
        }
        z
    }

    /// `out += scale · [x_r, 1]`.
    fn add_scaled(&self, r: usize, scale: f64, out: &mut [f64]) {
        let span = self.indptr[r]..self.indptr[r + 1];
        for (&j, &v) in self.indices[span.clone()].iter().zip(&self.values[span]) {
            out[j as usize] += scale * v;
        }
        out[self.dim] += scale;
    }

    /// `out += scale · [x_r, 1]²` (elementwise), for the Hessian's diagonal.
    fn add_scaled_squares(&self, r: usize, scale: f64, out: &mut [f64]) {
        let span = self.indptr[r]..self.indptr[r + 1];
        for (&j, &v) in self.indices[span.clone()].iter().zip(&self.values[span]) {
            out[j as usize] += scale * v * v;
        }
        out[self.dim] += scale;
    }
}

/// A fitted model: `weights` (one per feature) and `bias`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fit {
    pub weights: Vec<f64>,
    pub bias: f64,
    pub newton_steps: usize,
    pub converged: bool,
}

pub(crate) fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// `log(1 + exp(u))` without overflow.
pub(crate) fn softplus(u: f64) -> f64 {
    u.max(0.0) + (-u.abs()).exp().ln_1p()
}

struct Problem<'a> {
    x: &'a Design,
    /// Labels as ±1.
    y: Vec<f64>,
    /// The penalty per parameter: λ for the weights, λ_b for the bias.
    penalty: Vec<f64>,
}

impl Problem<'_> {
    fn objective(&self, theta: &[f64], margins: &[f64]) -> f64 {
        let loss: f64 = margins
            .iter()
            .zip(&self.y)
            .map(|(z, y)| softplus(-y * z))
            .sum();
        let penalty: f64 = theta
            .iter()
            .zip(&self.penalty)
            .map(|(t, l)| 0.5 * l * t * t)
            .sum();
        loss + penalty
    }

    fn margins(&self, theta: &[f64]) -> Vec<f64> {
        (0..self.x.rows())
            .map(|r| self.x.margin(r, theta))
            .collect()
    }

    /// `(XᵀDX + Λ) v`.
    fn hessian_times(&self, curvature: &[f64], v: &[f64], out: &mut [f64]) {
        for ((o, p), vi) in out.iter_mut().zip(&self.penalty).zip(v) {
            *o = p * vi;
        }
        for (r, &d) in curvature.iter().enumerate() {
            let xv = self.x.margin(r, v);
            self.x.add_scaled(r, d * xv, out);
        }
    }
}

/// Fits `labels` (true = positive) from the rows of `x` with penalty `l2` (> 0).
pub(crate) fn fit(x: &Design, labels: &[bool], l2: f64) -> Fit {
    debug_assert_eq!(x.rows(), labels.len());
    let params = x.dim + 1;
    let mut penalty = vec![l2; params];
    penalty[x.dim] = l2 * BIAS_L2_SHARE;
    let problem = Problem {
        x,
        y: labels.iter().map(|&l| if l { 1.0 } else { -1.0 }).collect(),
        penalty,
    };
    let mut theta = vec![0.0; params];
    // Start the bias at the smoothed base rate's log-odds: the steps then learn the weights.
    let positives = labels.iter().filter(|&&l| l).count() as f64;
    theta[x.dim] = ((positives + 0.5) / (labels.len() as f64 - positives + 0.5)).ln();
    let mut margins = problem.margins(&theta);
    let mut value = problem.objective(&theta, &margins);
    let mut first_norm = None;
    let mut gradient = vec![0.0; params];
    let mut curvature = vec![0.0; x.rows()];
    for step in 0..MAX_NEWTON_STEPS {
        // Gradient Xᵀ(p − t) + Λθ and the curvature p(1 − p) at the current point.
        for ((g, t), l) in gradient.iter_mut().zip(&theta).zip(&problem.penalty) {
            *g = l * t;
        }
        for (r, (&z, &y)) in margins.iter().zip(&problem.y).enumerate() {
            let p = sigmoid(z);
            let target = if y > 0.0 { 1.0 } else { 0.0 };
            x.add_scaled(r, p - target, &mut gradient);
            curvature[r] = p * (1.0 - p);
        }
        let norm = dot(&gradient, &gradient).sqrt();
        let first = *first_norm.get_or_insert(norm);
        if norm <= GRADIENT_TOLERANCE * first.max(1.0) {
            return done(theta, x.dim, step, true);
        }
        // Solve loosely while far from the optimum, tightly near it (Eisenstat–Walker style).
        let forcing = (norm / first.max(1.0)).sqrt().min(0.5);
        let direction = conjugate_gradient(&problem, &curvature, &gradient, forcing);
        let slope = dot(&gradient, &direction);
        if slope >= 0.0 {
            // Rounding has made the direction useless: this is as good as it gets.
            return done(theta, x.dim, step, false);
        }
        // How the margins move along the direction (the bias's column is the implicit 1).
        let moved_margins: Vec<f64> = (0..x.rows()).map(|r| x.margin(r, &direction)).collect();
        let mut length = 1.0;
        loop {
            let trial: Vec<f64> = theta
                .iter()
                .zip(&direction)
                .map(|(t, d)| t + length * d)
                .collect();
            let trial_margins: Vec<f64> = margins
                .iter()
                .zip(&moved_margins)
                .map(|(z, dz)| z + length * dz)
                .collect();
            let trial_value = problem.objective(&trial, &trial_margins);
            if trial_value <= value + 1e-4 * length * slope {
                theta = trial;
                margins = trial_margins;
                value = trial_value;
                break;
            }
            length *= 0.5;
            if length < 1e-10 {
                return done(theta, x.dim, step, false);
            }
        }
    }
    done(theta, x.dim, MAX_NEWTON_STEPS, false)
}

fn done(mut theta: Vec<f64>, dim: usize, newton_steps: usize, converged: bool) -> Fit {
    let bias = theta[dim];
    theta.truncate(dim);
    Fit {
        weights: theta,
        bias,
        newton_steps,
        converged,
    }
}

/// Approximately solves `H d = −g`, Jacobi-preconditioned, until the residual is below
/// `forcing · ‖g‖`.
fn conjugate_gradient(
    problem: &Problem<'_>,
    curvature: &[f64],
    g: &[f64],
    forcing: f64,
) -> Vec<f64> {
    let params = g.len();
    let mut diagonal = problem.penalty.clone();
    for (r, &d) in curvature.iter().enumerate() {
        problem.x.add_scaled_squares(r, d, &mut diagonal);
    }
    let mut d = vec![0.0; params];
    let mut residual: Vec<f64> = g.iter().map(|v| -v).collect();
    let mut z: Vec<f64> = residual.iter().zip(&diagonal).map(|(r, m)| r / m).collect();
    let mut p = z.clone();
    let mut hp = vec![0.0; params];
    let mut rz = dot(&residual, &z);
    let target = forcing * dot(g, g).sqrt();
    for _ in 0..MAX_CG_STEPS.min(params) {
        problem.hessian_times(curvature, &p, &mut hp);
        let php = dot(&p, &hp);
        if php <= 0.0 || !php.is_finite() {
            break;
        }
        let alpha = rz / php;
        for i in 0..params {
            d[i] += alpha * p[i];
            residual[i] -= alpha * hp[i];
        }
        if dot(&residual, &residual).sqrt() <= target {
            break;
        }
        for i in 0..params {
            z[i] = residual[i] / diagonal[i];
        }
        let rz_next = dot(&residual, &z);
        let beta = rz_next / rz;
        rz = rz_next;
        for i in 0..params {
            p[i] = z[i] + beta * p[i];
        }
    }
    d
}

pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Points in `dim` dimensions labelled by `w·x + b > noise`.
    fn synthetic(
        n: usize,
        truth: &[f64],
        bias: f64,
        noise: f64,
        seed: u64,
    ) -> (Vec<Vec<f32>>, Vec<bool>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut rows = Vec::new();
        let mut labels = Vec::new();
        for _ in 0..n {
            let x: Vec<f32> = truth.iter().map(|_| rng.random_range(-1.0..1.0)).collect();
            let z: f64 = truth
                .iter()
                .zip(&x)
                .map(|(w, &v)| w * f64::from(v))
                .sum::<f64>()
                + bias;
            // Logistic noise of the given scale: P(label) = σ(z / noise).
            let u: f64 = rng.random_range(1e-12..1.0);
            let logistic = noise * (u / (1.0 - u)).ln();
            labels.push(z + logistic > 0.0);
            rows.push(x);
        }
        (rows, labels)
    }

    fn design(rows: &[Vec<f32>]) -> Design {
        Design::from_dense(rows[0].len(), rows.iter().map(Vec::as_slice))
    }

    #[test]
    fn recovers_a_noisy_linear_rule() {
        let truth = [2.0, -1.0, 0.5, 0.0, 0.0];
        let (rows, labels) = synthetic(4000, &truth, 0.3, 1.0, 1);
        let fit = fit(&design(&rows), &labels, 1e-3);
        assert!(fit.converged);
        for (got, want) in fit.weights.iter().zip(truth) {
            assert!((got - want).abs() < 0.2, "{:?} vs {truth:?}", fit.weights);
        }
        assert!((fit.bias - 0.3).abs() < 0.15, "bias {}", fit.bias);
    }

    #[test]
    fn separable_data_gives_finite_weights_that_separate() {
        let truth = [1.0, 1.0, 0.0];
        let (rows, labels) = synthetic(500, &truth, 0.0, 0.0, 2);
        let x = design(&rows);
        let fit = fit(&x, &labels, 1.0);
        assert!(fit.converged);
        assert!(fit.weights.iter().all(|w| w.is_finite()));
        let mut theta = fit.weights.clone();
        theta.push(fit.bias);
        let correct = (0..x.rows())
            .filter(|&r| (x.margin(r, &theta) > 0.0) == labels[r])
            .count();
        assert!(correct >= 490, "{correct} of 500");
    }

    #[test]
    fn one_class_data_gives_a_finite_confident_bias() {
        let (rows, _) = synthetic(200, &[1.0, -1.0], 0.0, 1.0, 3);
        let labels = vec![false; 200];
        let fit = fit(&design(&rows), &labels, 1.0);
        assert!(fit.converged);
        assert!(fit.bias.is_finite() && fit.bias < -4.0, "bias {}", fit.bias);
        assert!(fit.weights.iter().all(|w| w.abs() < 0.1));
    }

    #[test]
    fn a_fit_is_deterministic() {
        let (rows, labels) = synthetic(300, &[1.0, 0.5, -2.0], 0.1, 0.5, 4);
        let x = design(&rows);
        assert_eq!(fit(&x, &labels, 0.3), fit(&x, &labels, 0.3));
    }
}
