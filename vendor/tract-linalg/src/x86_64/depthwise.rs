/// Depthwise convolution along an axis the output is contiguous on: `len` output points, each
/// the bias plus every `taps[t] * input[offsets[t] + i * in_stride]`.
///
/// Same contract as the aarch64 and wasm kernels. The arithmetic is the scalar walk's, in the
/// same order: the bias, then one multiply and one add per tap. It uses no FMA, so every output
/// is bit-identical to the scalar path and a plan gives the same results with or without this
/// kernel. `in_stride == 1` is vectorised at any tap count; any other stride stays scalar.
///
/// # Safety
/// `input.offset(offsets[t] + i * in_stride)` must be readable for every tap and every `i` below
/// `len`, and `len` output points writable from `output`. The CPU must support AVX.
#[cfg(target_arch = "x86_64")]
pub unsafe fn depthwise_w_f32(
    input: *const f32,
    output: *mut f32,
    taps: &[f32],
    offsets: &[isize],
    bias: f32,
    len: usize,
    in_stride: isize,
) {
    unsafe {
        match in_stride {
            1 => contiguous(input, output, taps, offsets, bias, len),
            _ => scalar(input, output, taps, offsets, bias, 0, len, in_stride),
        }
    }
}

/// The `in_stride == 1` case, with the tap count taken at runtime.
///
/// Taps are the outer loop and 32 output points the inner one: four 8-lane accumulators give
/// the adder independent chains, and each tap's broadcast is paid once per 32 points. Real 3x3,
/// 7x7 or 9x9 kernels reach here with 9, 49 or 81 taps.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn contiguous(
    input: *const f32,
    output: *mut f32,
    taps: &[f32],
    offsets: &[isize],
    bias: f32,
    len: usize,
) {
    use std::arch::x86_64::*;
    unsafe {
        let biasv = _mm256_set1_ps(bias);
        let mut i = 0usize;
        while i + 32 <= len {
            let mut a0 = biasv;
            let mut a1 = biasv;
            let mut a2 = biasv;
            let mut a3 = biasv;
            for (tap, offset) in taps.iter().zip(offsets) {
                let k = _mm256_set1_ps(*tap);
                let p = input.offset(*offset).add(i);
                a0 = _mm256_add_ps(a0, _mm256_mul_ps(_mm256_loadu_ps(p), k));
                a1 = _mm256_add_ps(a1, _mm256_mul_ps(_mm256_loadu_ps(p.add(8)), k));
                a2 = _mm256_add_ps(a2, _mm256_mul_ps(_mm256_loadu_ps(p.add(16)), k));
                a3 = _mm256_add_ps(a3, _mm256_mul_ps(_mm256_loadu_ps(p.add(24)), k));
            }
            _mm256_storeu_ps(output.add(i), a0);
            _mm256_storeu_ps(output.add(i + 8), a1);
            _mm256_storeu_ps(output.add(i + 16), a2);
            _mm256_storeu_ps(output.add(i + 24), a3);
            i += 32;
        }
        while i + 8 <= len {
            let mut acc = biasv;
            for (tap, offset) in taps.iter().zip(offsets) {
                let x = _mm256_loadu_ps(input.offset(*offset).add(i));
                acc = _mm256_add_ps(acc, _mm256_mul_ps(x, _mm256_set1_ps(*tap)));
            }
            _mm256_storeu_ps(output.add(i), acc);
            i += 8;
        }
        scalar(input, output, taps, offsets, bias, i, len, 1);
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
unsafe fn scalar(
    input: *const f32,
    output: *mut f32,
    taps: &[f32],
    offsets: &[isize],
    bias: f32,
    from: usize,
    len: usize,
    in_stride: isize,
) {
    unsafe {
        for i in from..len {
            let mut sum = bias;
            for (tap, offset) in taps.iter().zip(offsets) {
                sum += tap * *input.offset(*offset + i as isize * in_stride);
            }
            *output.add(i) = sum;
        }
    }
}

bail_stub!(x86_64; pub unsafe fn depthwise_w_f32(
    *const f32, *mut f32, &[f32], &[isize], f32, usize, isize
));

submit_routine!(x86_64; DepthwiseWF32, DepthwiseW, "x86_64_avx_depthwise_w_f32", depthwise_w_f32,
    isa(X86_64Avx));

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    fn reference(
        input: &[f32],
        taps: &[f32],
        offsets: &[isize],
        bias: f32,
        len: usize,
        in_stride: isize,
        center: usize,
    ) -> Vec<f32> {
        (0..len)
            .map(|i| {
                taps.iter().zip(offsets).fold(bias, |sum, (tap, offset)| {
                    sum + tap * input[(center as isize + offset + i as isize * in_stride) as usize]
                })
            })
            .collect()
    }

    fn compare(taps: usize, len: usize, in_stride: isize) {
        if !std::is_x86_feature_detected!("avx") {
            return;
        }
        let k: Vec<f32> = (0..taps).map(|t| (t as f32 * 0.7).sin()).collect();
        let offsets: Vec<isize> = (0..taps as isize).map(|t| t - taps as isize / 2).collect();
        let center = taps;
        let input: Vec<f32> = (0..center * 2 + len * in_stride as usize + 1)
            .map(|i| (i as f32 * 0.37).cos())
            .collect();
        let expected = reference(&input, &k, &offsets, 0.25, len, in_stride, center);
        let mut output = vec![0f32; len];
        unsafe {
            depthwise_w_f32(
                input.as_ptr().add(center),
                output.as_mut_ptr(),
                &k,
                &offsets,
                0.25,
                len,
                in_stride,
            )
        };
        // Same operations in the same order: the results must match bit for bit.
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&output), bits(&expected), "taps {taps} len {len} stride {in_stride}");
    }

    #[test]
    fn matches_scalar_bit_for_bit() {
        for taps in [1, 2, 3, 4, 5, 9, 25, 49, 81] {
            for len in [0, 1, 7, 8, 9, 31, 32, 33, 64, 100, 224] {
                compare(taps, len, 1);
                compare(taps, len, 2);
            }
        }
    }
}

/// One whole channel plane of a 3x3 depthwise convolution at stride 1 or 2, AVX-512: the
/// [`crate::routines::DepthwisePlane3x3F32`] contract.
///
/// Output rows are computed four at a time, 16 points of each per step, in four independent
/// accumulators: one accumulator would chain nine dependent FMAs per vector, and the rows of a
/// block share most of their input rows, which are loaded once for all of them. A tap's 16
/// inputs are one masked load whose mask drops the columns outside the plane, which is where the
/// padding's zeros come from, so the border points run the same loop as the inner ones and a
/// plane costs one call instead of one per zone. At stride 2 a tap's 16 inputs are every other
/// element of 32 consecutive ones: two loads and one two-source permute pick them. Each output
/// sums its taps with FMA in one fixed order (kernel rows outer, columns inner), so a plane's
/// result does not depend on the thread count or on where a row's vector starts.
///
/// # Safety
/// As [`crate::routines::DepthwisePlane3x3F32`]; the CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
pub unsafe fn depthwise_plane_3x3_f32(
    g: &crate::routines::DepthwisePlane3x3Geometry,
    input: *const f32,
    output: *mut f32,
    taps: &[f32; 9],
    bias: f32,
) {
    unsafe {
        match g.stride {
            1 => plane_3x3_avx512::<1>(g, input, output, taps, bias),
            2 => plane_3x3_avx512::<2>(g, input, output, taps, bias),
            s => panic!("depthwise_plane_3x3_f32: stride {s} is not 1 or 2"),
        }
    }
}

/// Lanes of a 16-lane load starting at column `start` that fall inside `0..width`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn lanes_inside(start: isize, width: isize) -> u16 {
    let lo = (-start).clamp(0, 16) as u32;
    let hi = (width - start).clamp(0, 16) as u32;
    if hi <= lo { 0 } else { (((1u32 << hi) - 1) & !((1u32 << lo) - 1)) as u16 }
}

/// Output rows per block: four accumulators hide the FMA latency.
#[cfg(target_arch = "x86_64")]
const PLANE_ROWS: usize = 4;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn plane_3x3_avx512<const STRIDE: usize>(
    g: &crate::routines::DepthwisePlane3x3Geometry,
    input: *const f32,
    output: *mut f32,
    taps: &[f32; 9],
    bias: f32,
) {
    use std::arch::x86_64::*;
    unsafe {
        let k: [__m512; 9] = std::array::from_fn(|t| _mm512_set1_ps(taps[t]));
        let biasv = _mm512_set1_ps(bias);
        // Lanes 0..16 of the permute's first source are 0..16, of its second 16..32.
        let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
        let width = g.in_w as isize;
        let (pad_top, pad_left) = (g.pad_top as isize, g.pad_left as isize);
        let mut oy0 = 0usize;
        while oy0 < g.out_h {
            let rows = (g.out_h - oy0).min(PLANE_ROWS);
            // The input rows the block reads, clipped to the plane: rows outside it are padding.
            let first = (oy0 * STRIDE) as isize - pad_top;
            let last = ((oy0 + rows - 1) * STRIDE + 2) as isize - pad_top;
            let (iy_from, iy_to) = (first.max(0), last.min(g.in_h as isize - 1));
            let mut ox = 0usize;
            while ox < g.out_w {
                let lanes = (g.out_w - ox).min(16);
                let store_mask = ((1u32 << lanes) - 1) as u16;
                let base = (STRIDE * ox) as isize - pad_left;
                let masks = if STRIDE == 1 {
                    [
                        lanes_inside(base, width),
                        lanes_inside(base + 1, width),
                        lanes_inside(base + 2, width),
                        0,
                    ]
                } else {
                    // Taps kx = 0 and 1 are the even and odd elements of the 32 from `base`,
                    // tap 2 the even ones of the 32 from `base + 2`.
                    [
                        lanes_inside(base, width),
                        lanes_inside(base + 16, width),
                        lanes_inside(base + 2, width),
                        lanes_inside(base + 18, width),
                    ]
                };
                let mut acc = [biasv; PLANE_ROWS];
                for iy in iy_from..=iy_to {
                    let row = input.wrapping_add(iy as usize * g.in_row_stride);
                    let x = if STRIDE == 1 {
                        [
                            _mm512_maskz_loadu_ps(masks[0], row.wrapping_offset(base)),
                            _mm512_maskz_loadu_ps(masks[1], row.wrapping_offset(base + 1)),
                            _mm512_maskz_loadu_ps(masks[2], row.wrapping_offset(base + 2)),
                        ]
                    } else {
                        let lo = _mm512_maskz_loadu_ps(masks[0], row.wrapping_offset(base));
                        let hi = _mm512_maskz_loadu_ps(masks[1], row.wrapping_offset(base + 16));
                        let lo2 = _mm512_maskz_loadu_ps(masks[2], row.wrapping_offset(base + 2));
                        let hi2 = _mm512_maskz_loadu_ps(masks[3], row.wrapping_offset(base + 18));
                        [
                            _mm512_permutex2var_ps(lo, even, hi),
                            _mm512_permutex2var_ps(lo, odd, hi),
                            _mm512_permutex2var_ps(lo2, even, hi2),
                        ]
                    };
                    for (r, acc) in acc.iter_mut().enumerate().take(rows) {
                        // Kernel row this input row is for output row oy0 + r.
                        let ky = iy - ((oy0 + r) * STRIDE) as isize + pad_top;
                        if (0..3).contains(&ky) {
                            let ky = ky as usize;
                            *acc = _mm512_fmadd_ps(x[0], k[ky * 3], *acc);
                            *acc = _mm512_fmadd_ps(x[1], k[ky * 3 + 1], *acc);
                            *acc = _mm512_fmadd_ps(x[2], k[ky * 3 + 2], *acc);
                        }
                    }
                }
                for (r, acc) in acc.iter().enumerate().take(rows) {
                    let out = output.add((oy0 + r) * g.out_row_stride + ox);
                    _mm512_mask_storeu_ps(out, store_mask, *acc);
                }
                ox += 16;
            }
            oy0 += rows;
        }
    }
}

bail_stub!(x86_64; pub unsafe fn depthwise_plane_3x3_f32(
    &crate::routines::DepthwisePlane3x3Geometry, *const f32, *mut f32, &[f32; 9], f32
));

submit_routine!(x86_64; DepthwisePlane3x3F32, DepthwisePlane3x3, "x86_64_avx512_depthwise_plane_3x3_f32",
    depthwise_plane_3x3_f32, isa(X86_64Avx512f));

#[cfg(all(test, target_arch = "x86_64"))]
mod plane_tests {
    use super::*;
    use crate::routines::DepthwisePlane3x3Geometry;

    /// The convolution written out, in f64: what the kernel must agree with to rounding.
    fn reference(g: &DepthwisePlane3x3Geometry, input: &[f32], taps: &[f32; 9], bias: f32) -> Vec<f32> {
        let mut out = vec![0f32; g.out_h * g.out_w];
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                let mut sum = bias as f64;
                for ky in 0..3 {
                    for kx in 0..3 {
                        let iy = (oy * g.stride + ky) as isize - g.pad_top as isize;
                        let ix = (ox * g.stride + kx) as isize - g.pad_left as isize;
                        if iy >= 0 && ix >= 0 && (iy as usize) < g.in_h && (ix as usize) < g.in_w {
                            sum += taps[ky * 3 + kx] as f64
                                * input[iy as usize * g.in_row_stride + ix as usize] as f64;
                        }
                    }
                }
                out[oy * g.out_w + ox] = sum as f32;
            }
        }
        out
    }

    fn check(in_h: usize, in_w: usize, stride: usize, pad_top: usize, pad_left: usize, pad_after: usize) {
        if !std::is_x86_feature_detected!("avx512f") {
            return;
        }
        let out_h = (in_h + pad_top + pad_after - 3) / stride + 1;
        let out_w = (in_w + pad_left + pad_after - 3) / stride + 1;
        // Rows with slack after them, so that a read past the row's end would pick up a value
        // the reference does not see.
        let in_row_stride = in_w + 5;
        let g = DepthwisePlane3x3Geometry {
            in_h,
            in_w,
            in_row_stride,
            out_h,
            out_w,
            out_row_stride: out_w,
            stride,
            pad_top,
            pad_left,
        };
        let input: Vec<f32> = (0..in_h * in_row_stride)
            .map(|i| if i % in_row_stride < in_w { ((i as f32) * 0.37).cos() } else { 1e6 })
            .collect();
        let taps: [f32; 9] = std::array::from_fn(|t| ((t as f32) * 0.7 + 0.3).sin());
        let expected = reference(&g, &input, &taps, 0.25);
        // Guard elements after the plane catch a store past its end.
        let mut output = vec![f32::NAN; out_h * out_w + 17];
        unsafe { depthwise_plane_3x3_f32(&g, input.as_ptr(), output.as_mut_ptr(), &taps, 0.25) };
        for (ix, (got, want)) in output.iter().zip(&expected).enumerate() {
            assert!(
                (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
                "{in_h}x{in_w} s{stride} pad {pad_top},{pad_left},{pad_after}: point {ix} {got} != {want}"
            );
        }
        assert!(output[out_h * out_w..].iter().all(|x| x.is_nan()), "wrote past the plane");
    }

    #[test]
    fn plane_matches_the_convolution() {
        for (h, w) in [(1, 1), (3, 3), (4, 4), (7, 7), (8, 8), (14, 14), (15, 17), (16, 16), (28, 28), (31, 33), (56, 56), (64, 80), (40, 10)] {
            for stride in [1, 2] {
                for (pt, pl, pa) in [(1, 1, 1), (0, 0, 0), (0, 0, 1), (1, 1, 0), (2, 2, 2)] {
                    if h + pt + pa >= 3 && w + pl + pa >= 3 {
                        check(h, w, stride, pt, pl, pa);
                    }
                }
            }
        }
    }
}
