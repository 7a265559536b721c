//! [`Scattering`]: the scattering transform of images (Mallat 2012, Bruna &
//! Mallat 2013), a fixed — not learned — feature extractor, computed as
//! kymatio's `Scattering2D(J, (H, W), L)` computes it (Andreux et al.,
//! JMLR 2020), so that its coefficients are kymatio's.
//!
//! With ψ_{j,θ} the Morlet wavelet of scale 2^j (j < J) and angle θ (one of
//! L), φ_J a Gaussian low-pass filter of scale 2^J, and every output sampled
//! every 2^J pixels, each channel x of an image gives
//!
//! ```text
//! S₀ x                 = x ⋆ φ_J
//! S₁ x (j₁, θ₁)         = |x ⋆ ψ_{j₁,θ₁}| ⋆ φ_J
//! S₂ x (j₁, θ₁, j₂, θ₂) = ||x ⋆ ψ_{j₁,θ₁}| ⋆ ψ_{j₂,θ₂}| ⋆ φ_J      (j₂ > j₁)
//! ```
//!
//! — 1 + J·L + L²·J(J−1)/2 maps of H/2^J × W/2^J (81 maps of 7 × 7 for
//! MNIST at J = 2, L = 8). The modulus makes the maps stable to small
//! translations and deformations, which is what a convolutional network's
//! first layers learn; under differential privacy nothing has to be
//! learned for them, and Tramèr & Boneh (ICLR 2021, "Differentially
//! Private Learning Needs Better Features") train private models on these
//! features to the best accuracies of their time.
//!
//! How it is computed (kymatio's algorithm): the image is padded by
//! reflection to a multiple of 2^J at least 2^J larger, and every
//! convolution is a product with the filter's Fourier transform. Sampling
//! every 2^k pixels after a convolution is done in the Fourier domain, by
//! summing the spectrum's 2^k × 2^k aliases, so the next inverse FFT is
//! 2^k times smaller on each side; the maps are cut back to the image
//! (one sample off each border) at the end. The filters are built as
//! kymatio builds them (`filter_bank.py`), in `f64`; the FFTs are
//! `rustfft`'s, in `f32`.

use std::f64::consts::PI;
use std::sync::Arc;

use gradlab_tensor::{parallel, Tensor};
use rustfft::num_complex::{Complex32, Complex64};
use rustfft::{Fft, FftPlanner};

use crate::{DataError, Dataset, Targets};

/// The most angles a transform may have: kymatio's filters are designed for
/// L = 8, and each angle adds L more second-order maps.
pub const MAX_ANGLES: usize = 32;

/// The scattering transform of `[C, H, W]` images at scale 2^J with L
/// angles; see the [module](self) for what it computes.
///
/// ```
/// use gradlab_data::Scattering;
/// let s = Scattering::new([1, 28, 28], 2, 8)?;
/// assert_eq!(s.output_shape(), [81, 7, 7]);
/// let image = vec![0.5; 28 * 28];
/// let mut out = vec![0.0; 81 * 49];
/// s.transform(&image, &mut out);
/// // A constant image has no edges: only the low-pass map is not zero.
/// assert!((out[0] - 0.5).abs() < 1e-3);
/// assert!(out[49..].iter().all(|v| v.abs() < 1e-3));
/// # Ok::<(), gradlab_data::DataError>(())
/// ```
pub struct Scattering {
    input: [usize; 3],
    j: usize,
    /// The padded image, `[rows, cols]`, a multiple of 2^J.
    padded: [usize; 2],
    /// Rows and columns of reflection added before the image.
    before: [usize; 2],
    /// The 2-D FFT at each resolution 2^r, r = 0 ..= J.
    fft: Vec<Fft2>,
    /// φ_J's spectrum at each resolution r < J, transposed.
    phi: Vec<Vec<f32>>,
    /// The wavelets, scale by scale, angle by angle.
    psi: Vec<Wavelet>,
}

/// ψ_{j,θ}: its scale and its spectrum at each resolution it is used at.
struct Wavelet {
    j: usize,
    /// The spectrum at resolutions r = 0 ..= min(j, J − 2), transposed.
    levels: Vec<Vec<f32>>,
}

impl Scattering {
    /// The transform of `input` = `[C, H, W]` images at scale 2^`j` with
    /// `angles` orientations (kymatio's J and L; Tramèr & Boneh use J = 2,
    /// L = 8). An empty image, J = 0, an image smaller than 2^J or too small
    /// to pad by reflection, or no or more than [`MAX_ANGLES`] angles is an
    /// error.
    pub fn new(input: [usize; 3], j: usize, angles: usize) -> Result<Scattering, DataError> {
        let [c, h, w] = input;
        let err = |m: String| Err(DataError::Scattering(m));
        if c == 0 || h == 0 || w == 0 {
            return err(format!("the images are empty: {input:?}"));
        }
        if j == 0 || j >= usize::BITS as usize || (1usize << j) > h.min(w) {
            return err(format!(
                "J = {j} needs images of at least 2^J pixels on a side (and J ≥ 1); got {h}×{w}"
            ));
        }
        if angles == 0 || angles > MAX_ANGLES {
            return err(format!(
                "the number of angles L must be in 1..={MAX_ANGLES}; got {angles}"
            ));
        }
        let step = 1 << j;
        let pad = |n: usize| ((n + step) / step + 1) * step;
        let padded = [pad(h), pad(w)];
        if padded[0] - h >= 2 * h || padded[1] - w >= 2 * w {
            return err(format!(
                "a {h}×{w} image is too small to pad by reflection to {}×{}",
                padded[0], padded[1]
            ));
        }
        let before = [(padded[0] - h) / 2, (padded[1] - w) / 2];
        let mut planner = FftPlanner::new();
        let fft = (0..=j)
            .map(|r| Fft2::new(&mut planner, padded[0] >> r, padded[1] >> r))
            .collect();
        let [m, n] = padded;
        let phi_spectrum = spectrum(
            &gabor(m, n, 0.8 * (1 << (j - 1)) as f64, 0.0, 0.0, 1.0),
            m,
            n,
        );
        let phi = (0..j).map(|r| periodize(&phi_spectrum, m, n, r)).collect();
        let mut psi = Vec::with_capacity(j * angles);
        for scale in 0..j {
            for t in 0..angles {
                let l = angles as f64;
                // kymatio's angle: ⌊L − L/2 − 1⌋ − t, in units of π/L.
                let theta = ((l - l / 2.0 - 1.0).trunc() - t as f64) * PI / l;
                let s = spectrum(
                    &morlet(
                        m,
                        n,
                        0.8 * (1 << scale) as f64,
                        theta,
                        0.75 * PI / (1 << scale) as f64,
                        4.0 / l,
                    ),
                    m,
                    n,
                );
                let levels = (0..(scale + 1).min((j - 1).max(1)))
                    .map(|r| periodize(&s, m, n, r))
                    .collect();
                psi.push(Wavelet { j: scale, levels });
            }
        }
        Ok(Scattering {
            input,
            j,
            padded,
            before,
            fft,
            phi,
            psi,
        })
    }

    /// The maps per input channel: 1 + J·L + L²·J(J−1)/2.
    pub fn maps(&self) -> usize {
        let l = self.psi.len() / self.j;
        1 + self.j * l + l * l * self.j * (self.j - 1) / 2
    }

    /// The shape of an image's coefficients, `[C · maps, H / 2^J, W / 2^J]`,
    /// channel after channel (kymatio's `(C, maps, h, w)`, flattened).
    pub fn output_shape(&self) -> [usize; 3] {
        let [c, h, w] = self.input;
        [c * self.maps(), h >> self.j, w >> self.j]
    }

    /// The image shape `[C, H, W]` it takes.
    pub fn input_shape(&self) -> [usize; 3] {
        self.input
    }

    /// Writes the coefficients of each image of `images` (rows of `C·H·W`
    /// values) into the rows of `out`, in parallel over images; each image's
    /// coefficients depend on that image only, so they are the same for any
    /// number of threads.
    ///
    /// # Panics
    /// If `images` is not whole images or `out` not one row of
    /// coefficients per image.
    pub fn transform(&self, images: &[f32], out: &mut [f32]) {
        let size: usize = self.input.iter().product();
        let row: usize = self.output_shape().iter().product();
        let n = images.len() / size;
        assert!(
            images.len() == n * size && out.len() == n * row,
            "Scattering::transform: {} values are not whole {:?} images with {} coefficients \
             each in {} outputs",
            images.len(),
            self.input,
            row,
            out.len()
        );
        let [c, h, w] = self.input;
        let per_channel = row / c;
        parallel::rows_mut(out, row, |first, rows| {
            let mut ws = Workspace::new(self);
            for (i, coefficients) in rows.chunks_exact_mut(row).enumerate() {
                let image = &images[(first + i) * size..][..size];
                for (x, s) in image
                    .chunks_exact(h * w)
                    .zip(coefficients.chunks_exact_mut(per_channel))
                {
                    self.channel(x, s, &mut ws);
                }
            }
        });
    }

    /// The dataset of `data`'s images' coefficients (the same targets and
    /// classes), for a model that learns on them. Images of another size
    /// than the transform's are an error.
    pub fn dataset(&self, data: &Dataset) -> Result<Dataset, DataError> {
        let size: usize = self.input.iter().product();
        if data.num_features() != size {
            return Err(DataError::Scattering(format!(
                "the transform takes {:?} images ({size} values), but the dataset's examples \
                 have {} features",
                self.input,
                data.num_features()
            )));
        }
        let row: usize = self.output_shape().iter().product();
        let mut out = vec![0.0; data.len() * row];
        // A block of images at a time, so the pixels are never all in f32.
        let block = 4096;
        let (mut x, mut y) = (Tensor::default(), Targets::default());
        for (b, chunk) in out.chunks_mut(block * row).enumerate() {
            let first = b * block;
            let indices: Vec<usize> = (first..first + chunk.len() / row).collect();
            data.gather(&indices, &mut x, &mut y);
            self.transform(x.data(), chunk);
        }
        let x = Tensor::from_vec(out, &[data.len(), row]);
        let scattered = Dataset::from_tensors(x, data.targets().clone())?;
        match data.classes() {
            Some(classes) => scattered.with_classes(classes),
            None => Ok(scattered),
        }
    }

    /// One channel `x` (`H × W`) into its `maps` maps `s`.
    fn channel(&self, x: &[f32], s: &mut [f32], ws: &mut Workspace) {
        let [_, h, w] = self.input;
        let n = self.padded[1];
        let reflect = |i: usize, before: usize, len: usize| {
            let i = i as isize - before as isize;
            let i = i.unsigned_abs();
            if i < len {
                i
            } else {
                2 * (len - 1) - i
            }
        };
        for (r, row) in ws.a.chunks_exact_mut(n).enumerate() {
            let src = &x[reflect(r, self.before[0], h) * w..][..w];
            for (col, v) in row.iter_mut().enumerate() {
                *v = Complex32::new(src[reflect(col, self.before[1], w)], 0.0);
            }
        }
        let mut x_hat = std::mem::take(&mut ws.x);
        let mut u_hat = std::mem::take(&mut ws.u);
        let mut v_hat = std::mem::take(&mut ws.v);
        self.fft[0].forward(&mut ws.a, &mut x_hat, &mut ws.scratch);
        let map = (h >> self.j) * (w >> self.j);
        // kymatio lists every first-order map before the second-order ones.
        let (first, second) = s.split_at_mut((1 + self.psi.len()) * map);
        let mut first = first.chunks_exact_mut(map);
        let mut second = second.chunks_exact_mut(map);
        self.low_pass(&x_hat, 0, first.next().unwrap(), ws);
        for psi1 in &self.psi {
            let j1 = psi1.j;
            self.modulus_of_product(&x_hat, 0, &psi1.levels[0], j1, &mut u_hat, ws);
            self.low_pass(&u_hat, j1, first.next().unwrap(), ws);
            for psi2 in self.psi.iter().filter(|p| p.j > j1) {
                let j2 = psi2.j;
                self.modulus_of_product(&u_hat, j1, &psi2.levels[j1], j2, &mut v_hat, ws);
                self.low_pass(&v_hat, j2, second.next().unwrap(), ws);
            }
        }
        ws.x = x_hat;
        ws.u = u_hat;
        ws.v = v_hat;
    }

    /// The spectrum (at resolution `to`) of |y ⋆ f| sampled at resolution
    /// `to`, for y's spectrum `y_hat` at resolution `from` and f's
    /// `filter` there.
    fn modulus_of_product(
        &self,
        y_hat: &[Complex32],
        from: usize,
        filter: &[f32],
        to: usize,
        out: &mut [Complex32],
        ws: &mut Workspace,
    ) {
        let (f_from, f_to) = (&self.fft[from], &self.fft[to]);
        let k = f_to.len();
        product_subsampled(y_hat, filter, f_from, to - from, &mut ws.a[..k]);
        f_to.inverse(&mut ws.a[..k], &mut ws.b[..k], &mut ws.scratch);
        // The inverse FFT's 1/size, and the 1/4^(to − from) of averaging
        // the aliases: 1/(the size at `from`).
        let scale = 1.0 / f_from.len() as f32;
        for v in &mut ws.b[..k] {
            *v = Complex32::new(v.norm() * scale, 0.0);
        }
        f_to.forward(&mut ws.b[..k], &mut out[..k], &mut ws.scratch);
    }

    /// `map` = (y ⋆ φ_J) sampled every 2^J pixels and cut to the image, for
    /// y's spectrum `y_hat` at resolution `from`.
    fn low_pass(&self, y_hat: &[Complex32], from: usize, map: &mut [f32], ws: &mut Workspace) {
        let (f_from, f_to) = (&self.fft[from], &self.fft[self.j]);
        let k = f_to.len();
        product_subsampled(
            y_hat,
            &self.phi[from],
            f_from,
            self.j - from,
            &mut ws.a[..k],
        );
        f_to.inverse(&mut ws.a[..k], &mut ws.b[..k], &mut ws.scratch);
        let scale = 1.0 / f_from.len() as f32;
        let (rows, cols) = (f_to.rows, f_to.cols);
        let w = cols - 2;
        for r in 1..rows - 1 {
            for c in 1..cols - 1 {
                map[(r - 1) * w + c - 1] = ws.b[r * cols + c].re * scale;
            }
        }
    }
}

/// `out` = the spectrum of (y ⋆ f) sampled every 2^`shift` pixels: the
/// product of the spectra y_hat · f (at the resolution of `fft`, transposed)
/// with its 2^shift × 2^shift aliases summed.
fn product_subsampled(
    y_hat: &[Complex32],
    filter: &[f32],
    fft: &Fft2,
    shift: usize,
    out: &mut [Complex32],
) {
    // Transposed: `cols` rows of `rows` values.
    let (rows, cols) = (fft.cols, fft.rows);
    let (out_rows, out_cols) = (rows >> shift, cols >> shift);
    out.fill(Complex32::new(0.0, 0.0));
    for a in 0..1 << shift {
        for r in 0..out_rows {
            let src = (r + a * out_rows) * cols;
            let dst = &mut out[r * out_cols..][..out_cols];
            for b in 0..1 << shift {
                let at = src + b * out_cols;
                let (y, f) = (&y_hat[at..at + out_cols], &filter[at..at + out_cols]);
                for ((o, y), f) in dst.iter_mut().zip(y).zip(f) {
                    *o += y * f;
                }
            }
        }
    }
}

/// Scratch buffers for one image at a time.
struct Workspace {
    a: Vec<Complex32>,
    b: Vec<Complex32>,
    /// The padded image's spectrum.
    x: Vec<Complex32>,
    /// |x ⋆ ψ₁|'s spectrum.
    u: Vec<Complex32>,
    /// ||x ⋆ ψ₁| ⋆ ψ₂|'s spectrum.
    v: Vec<Complex32>,
    scratch: Vec<Complex32>,
}

impl Workspace {
    fn new(s: &Scattering) -> Workspace {
        let k = s.fft[0].len();
        let zero = Complex32::new(0.0, 0.0);
        let scratch = s.fft.iter().map(Fft2::scratch_len).max().unwrap_or(0);
        Workspace {
            a: vec![zero; k],
            b: vec![zero; k],
            x: vec![zero; k],
            u: vec![zero; k],
            v: vec![zero; k],
            scratch: vec![zero; scratch],
        }
    }
}

/// A 2-D FFT of `rows × cols` values: 1-D FFTs along the rows, a
/// transpose, 1-D FFTs along what were the columns. The spectrum stays
/// transposed (`cols × rows`): every product with a filter is elementwise
/// and the filters are stored transposed too, and the inverse undoes the
/// transpose, so no second transpose is needed.
struct Fft2 {
    rows: usize,
    cols: usize,
    along_rows: [Arc<dyn Fft<f32>>; 2],
    along_cols: [Arc<dyn Fft<f32>>; 2],
}

impl Fft2 {
    fn new(planner: &mut FftPlanner<f32>, rows: usize, cols: usize) -> Fft2 {
        Fft2 {
            rows,
            cols,
            along_rows: [
                planner.plan_fft_forward(cols),
                planner.plan_fft_inverse(cols),
            ],
            along_cols: [
                planner.plan_fft_forward(rows),
                planner.plan_fft_inverse(rows),
            ],
        }
    }

    fn len(&self) -> usize {
        self.rows * self.cols
    }

    fn scratch_len(&self) -> usize {
        self.along_rows
            .iter()
            .chain(&self.along_cols)
            .map(|f| f.get_inplace_scratch_len())
            .max()
            .unwrap_or(0)
    }

    /// `spectrum` (transposed) of `x` (row-major); `x` is overwritten.
    fn forward(&self, x: &mut [Complex32], spectrum: &mut [Complex32], scratch: &mut [Complex32]) {
        self.along_rows[0].process_with_scratch(x, scratch);
        transpose(x, spectrum, self.rows, self.cols);
        self.along_cols[0].process_with_scratch(spectrum, scratch);
    }

    /// The unnormalized inverse: `x` (row-major) of `spectrum`
    /// (transposed) times rows · cols; `spectrum` is overwritten.
    fn inverse(&self, spectrum: &mut [Complex32], x: &mut [Complex32], scratch: &mut [Complex32]) {
        self.along_cols[1].process_with_scratch(spectrum, scratch);
        transpose(spectrum, x, self.cols, self.rows);
        self.along_rows[1].process_with_scratch(x, scratch);
    }
}

/// `to` (`cols × rows`) = the transpose of `from` (`rows × cols`).
fn transpose(from: &[Complex32], to: &mut [Complex32], rows: usize, cols: usize) {
    for (r, row) in from.chunks_exact(cols).enumerate() {
        for (c, &v) in row.iter().enumerate() {
            to[c * rows + r] = v;
        }
    }
}

/// kymatio's `gabor_2d`: g_σ(u) e^{i ξ·u} on an `m × n` grid, the Gaussian
/// envelope stretched by `slant` across the angle θ and periodized over the
/// 5 × 5 neighbouring periods.
fn gabor(m: usize, n: usize, sigma: f64, theta: f64, xi: f64, slant: f64) -> Vec<Complex64> {
    // kymatio rounds the rotation to f32.
    let (cos, sin) = (theta.cos() as f32 as f64, theta.sin() as f32 as f64);
    let d = slant * slant;
    // R · diag(1, slant²) · R⁻¹ / (2σ²).
    let c00 = (cos * cos + d * sin * sin) / (2.0 * sigma * sigma);
    let c01 = (cos * sin - d * sin * cos) / (2.0 * sigma * sigma);
    let c11 = (sin * sin + d * cos * cos) / (2.0 * sigma * sigma);
    let mut g = vec![Complex64::new(0.0, 0.0); m * n];
    for ex in -2..=2i64 {
        for ey in -2..=2i64 {
            for (i, row) in g.chunks_exact_mut(n).enumerate() {
                let x = (ex * m as i64 + i as i64) as f64;
                for (j, v) in row.iter_mut().enumerate() {
                    let y = (ey * n as i64 + j as i64) as f64;
                    let re = -(c00 * x * x + 2.0 * c01 * x * y + c11 * y * y);
                    let im = x * xi * theta.cos() + y * xi * theta.sin();
                    *v += Complex64::new(re, im).exp();
                }
            }
        }
    }
    // kymatio's normalization, with its π of 3.1415 (kept, so that the
    // coefficients are kymatio's to the last digits).
    #[allow(clippy::approx_constant)]
    let kymatio_pi = 3.1415;
    let norm = 2.0 * kymatio_pi * sigma * sigma / slant;
    g.iter_mut().for_each(|v| *v /= norm);
    g
}

/// kymatio's `morlet_2d`: a Gabor wavelet minus the Gaussian that makes its
/// mean zero.
fn morlet(m: usize, n: usize, sigma: f64, theta: f64, xi: f64, slant: f64) -> Vec<Complex64> {
    let wave = gabor(m, n, sigma, theta, xi, slant);
    let envelope = gabor(m, n, sigma, theta, 0.0, slant);
    let k = wave.iter().sum::<Complex64>() / envelope.iter().sum::<Complex64>();
    wave.iter().zip(&envelope).map(|(w, e)| w - k * e).collect()
}

/// The real part of the 2-D DFT of an `m × n` signal, transposed (`n × m`):
/// the filter as a product in the Fourier domain (the imaginary part is zero
/// but for rounding).
fn spectrum(signal: &[Complex64], m: usize, n: usize) -> Vec<f64> {
    let twiddle = |k: usize, x: usize, len: usize| {
        let a = -2.0 * PI * ((k * x) % len) as f64 / len as f64;
        Complex64::new(a.cos(), a.sin())
    };
    // Along the rows, then along the columns.
    let mut rows = vec![Complex64::new(0.0, 0.0); m * n];
    for i in 0..m {
        for k in 0..n {
            rows[i * n + k] = (0..n).map(|y| signal[i * n + y] * twiddle(k, y, n)).sum();
        }
    }
    let mut out = vec![0.0; m * n];
    for k1 in 0..m {
        for k2 in 0..n {
            let v: Complex64 = (0..m).map(|x| rows[x * n + k2] * twiddle(k1, x, m)).sum();
            out[k2 * m + k1] = v.re;
        }
    }
    out
}

/// kymatio's `periodize_filter_fft`: the spectrum (transposed) at resolution
/// 2^r — the frequencies that alias are cut, and the 2^r × 2^r periods of
/// what is left summed — as `f32`.
fn periodize(s: &[f64], m: usize, n: usize, r: usize) -> Vec<f32> {
    let cut = |len: usize| {
        let start = (len as f64 * 2f64.powi(-(r as i32) - 1)) as usize;
        let width = (len as f64 * (1.0 - 2f64.powi(-(r as i32)))) as usize;
        start..start + width
    };
    let (cut_m, cut_n) = (cut(m), cut(n));
    let (om, on) = (m >> r, n >> r);
    let mut out = vec![0.0f64; om * on];
    for k in 0..om {
        for l in 0..on {
            for i in 0..1 << r {
                for j in 0..1 << r {
                    let (x, y) = (k + i * om, l + j * on);
                    if !cut_m.contains(&x) && !cut_n.contains(&y) {
                        out[l * om + k] += s[y * m + x];
                    }
                }
            }
        }
    }
    out.into_iter().map(|v| v as f32).collect()
}
