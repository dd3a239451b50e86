//! Property tests: reductions, softmax, log-softmax, cumsum, views, concat/stack and the
//! indexing ops against f64 references on random shapes and layouts.

use proptest::prelude::*;
use tensor::testing::*;
use tensor::tolerance::{assert_close, Tol};
use tensor::{DType, Device, Tensor};

/// `(pre, len, post)` around `dim` and the flat index of (p, a, q).
fn split(dims: &[usize], dim: usize) -> (usize, usize, usize) {
    (dims[..dim].iter().product(), dims[dim], dims[dim + 1..].iter().product())
}

/// Applies `f` to every lane along `dim` of the logical values, giving one value per lane.
fn lanes(v: &[f64], dims: &[usize], dim: usize, f: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    let (pre, len, post) = split(dims, dim);
    let mut out = Vec::with_capacity(pre * post);
    for p in 0..pre {
        for q in 0..post {
            let lane: Vec<f64> = (0..len).map(|a| v[(p * len + a) * post + q]).collect();
            out.push(f(&lane));
        }
    }
    out
}

/// Applies `f` lane-wise, keeping the lane's length (softmax, cumsum).
fn lanes_map(v: &[f64], dims: &[usize], dim: usize, f: impl Fn(&[f64]) -> Vec<f64>) -> Vec<f64> {
    let (pre, len, post) = split(dims, dim);
    let mut out = vec![0.0; v.len()];
    for p in 0..pre {
        for q in 0..post {
            let lane: Vec<f64> = (0..len).map(|a| v[(p * len + a) * post + q]).collect();
            for (a, y) in f(&lane).into_iter().enumerate() {
                out[(p * len + a) * post + q] = y;
            }
        }
    }
    out
}

fn arb_shape_dim() -> impl Strategy<Value = (Vec<usize>, usize)> {
    prop_oneof![arb_shape(), arb_big_shape()]
        .prop_filter("rank >= 1", |s| !s.is_empty())
        .prop_flat_map(|s| {
            let r = s.len();
            (Just(s), 0..r)
        })
}

fn lse(l: &[f64]) -> f64 {
    let m = l.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    m + l.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn reductions(
        (shape, dim) in arb_shape_dim(),
        dtype in arb_dtype(),
        mode in arb_mode(),
        keep in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let x = make(&shape, dtype, seed, mode, -3.0, 3.0);
        let v = logical(&x);
        let n = shape[dim];
        let tol = Tol::accumulated(dtype, n, 3.0);
        let mut kept = shape.clone();
        kept[dim] = 1;
        let mut dropped = shape.clone();
        dropped.remove(dim);
        let want_dims = if keep { kept } else { dropped };
        let sum = x.sum(dim, keep).unwrap();
        prop_assert_eq!(sum.dims(), want_dims.as_slice());
        assert_close(
            "sum",
            &logical(&sum),
            &lanes(&v, &shape, dim, |l| round_to(l.iter().sum(), dtype)),
            tol,
        );
        let mean = x.mean(dim, keep).unwrap();
        if n > 0 {
            assert_close(
                "mean",
                &logical(&mean),
                &lanes(&v, &shape, dim, |l| round_to(l.iter().sum::<f64>() / n as f64, dtype)),
                tol,
            );
            let mx = x.max(dim, keep).unwrap();
            prop_assert_eq!(
                logical(&mx),
                lanes(&v, &shape, dim, |l| l.iter().cloned().fold(f64::NEG_INFINITY, f64::max))
            );
            let mn = x.min(dim, keep).unwrap();
            prop_assert_eq!(
                logical(&mn),
                lanes(&v, &shape, dim, |l| l.iter().cloned().fold(f64::INFINITY, f64::min))
            );
            let am = x.argmax(dim, keep).unwrap();
            prop_assert_eq!(am.dtype(), DType::I64);
            let first_max = |l: &[f64]| {
                let m = l.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                l.iter().position(|&y| y == m).unwrap() as f64
            };
            prop_assert_eq!(logical(&am), lanes(&v, &shape, dim, first_max));
            let ai = x.argmin(dim, keep).unwrap();
            let first_min = |l: &[f64]| {
                let m = l.iter().cloned().fold(f64::INFINITY, f64::min);
                l.iter().position(|&y| y == m).unwrap() as f64
            };
            prop_assert_eq!(logical(&ai), lanes(&v, &shape, dim, first_min));
            let ls = x.logsumexp(dim, keep).unwrap();
            assert_close(
                "logsumexp",
                &logical(&ls),
                &lanes(&v, &shape, dim, |l| round_to(lse(l), dtype)),
                tol,
            );
        } else {
            prop_assert!(x.max(dim, keep).is_err());
        }
    }

    #[test]
    fn softmax_log_softmax_cumsum(
        (shape, dim) in arb_shape_dim(),
        dtype in arb_dtype(),
        mode in arb_mode(),
        seed in any::<u64>(),
    ) {
        let x = make(&shape, dtype, seed, mode, -4.0, 4.0);
        let v = logical(&x);
        let n = shape[dim];
        let tol = Tol::accumulated(dtype, n, 1.0);
        let sm = x.softmax(dim).unwrap();
        let want = lanes_map(&v, &shape, dim, |l| {
            let z = lse(l);
            l.iter().map(|y| round_to((y - z).exp(), dtype)).collect()
        });
        assert_close("softmax", &logical(&sm), &want, tol);
        let lsm = x.log_softmax(dim).unwrap();
        let want = lanes_map(&v, &shape, dim, |l| {
            let z = lse(l);
            l.iter().map(|y| round_to(y - z, dtype)).collect()
        });
        assert_close("log_softmax", &logical(&lsm), &want, Tol::accumulated(dtype, n, 4.0));
        let cs = x.cumsum(dim).unwrap();
        let want = lanes_map(&v, &shape, dim, |l| {
            l.iter()
                .scan(0.0, |s, y| {
                    *s += y;
                    Some(round_to(*s, dtype))
                })
                .collect()
        });
        assert_close("cumsum", &logical(&cs), &want, Tol::accumulated(dtype, n, 4.0));
        let cr = x.cumsum_reverse(dim).unwrap();
        let want = lanes_map(&v, &shape, dim, |l| {
            let mut r: Vec<f64> = l
                .iter()
                .rev()
                .scan(0.0, |s, y| {
                    *s += y;
                    Some(round_to(*s, dtype))
                })
                .collect();
            r.reverse();
            r
        });
        assert_close("cumsum_reverse", &logical(&cr), &want, Tol::accumulated(dtype, n, 4.0));
    }

    #[test]
    fn views_are_zero_copy_and_index_right(
        shape in arb_shape(),
        mode in arb_mode(),
        seed in any::<u64>(),
    ) {
        let x = make(&shape, DType::F32, seed, mode, -1.0, 1.0);
        let v = logical(&x);
        let r = shape.len();
        // transpose of the first and last dims
        if r >= 2 {
            let t = x.transpose(0, r - 1).unwrap();
            prop_assert!(t.same_storage(&x));
            let tv = logical(&t);
            let mut td = shape.clone();
            td.swap(0, r - 1);
            let st = tensor::Shape::from(&shape).contiguous_strides();
            for lin in 0..t.numel() {
                let mut rem = lin;
                let mut idx = vec![0; r];
                for d in (0..r).rev() { idx[d] = rem % td[d]; rem /= td[d]; }
                idx.swap(0, r - 1);
                let src: usize = idx.iter().zip(&st).map(|(i, s)| i * s).sum();
                prop_assert_eq!(tv[lin], v[src]);
            }
            // reshape of a transposed view copies only when it must, and keeps the order
            let flat = t.flatten_all().unwrap();
            prop_assert_eq!(logical(&flat), tv.clone());
            prop_assert_eq!(logical(&t.contiguous().unwrap()), tv);
        }
        // narrow + select
        for d in 0..r {
            if shape[d] >= 2 {
                let nar = x.narrow(d, 1, shape[d] - 1).unwrap();
                prop_assert!(nar.same_storage(&x));
                let (pre, len, post) = split(&shape, d);
                let want: Vec<f64> = (0..pre)
                    .flat_map(|p| {
                        (1..len).flat_map(move |a| (0..post).map(move |q| (p * len + a) * post + q))
                    })
                    .map(|i| v[i])
                    .collect();
                prop_assert_eq!(logical(&nar), want);
                let sel = x.select(d, 1).unwrap();
                let want: Vec<f64> = (0..pre)
                    .flat_map(|p| (0..post).map(move |q| (p * len + 1) * post + q))
                    .map(|i| v[i])
                    .collect();
                prop_assert_eq!(logical(&sel), want);
            }
        }
        // unsqueeze / squeeze round trip, reshape to flat and back
        let u = x.unsqueeze(r).unwrap();
        let sq = u.squeeze(r).unwrap();
        prop_assert_eq!(sq.dims(), x.dims());
        let back = x.reshape(x.numel()).unwrap().reshape(shape.clone()).unwrap();
        prop_assert_eq!(logical(&back), v);
    }

    #[test]
    fn concat_and_stack(
        (shape, dim) in arb_shape_dim(),
        extra in 0usize..4,
        mode in arb_mode(),
        seed in any::<u64>(),
    ) {
        let a = make(&shape, DType::F32, seed, mode, -1.0, 1.0);
        let mut sb = shape.clone();
        sb[dim] = extra;
        let b = make(&sb, DType::F32, seed ^ 9, Mode::Permuted, -1.0, 1.0);
        let c = Tensor::cat(&[&a, &b, &a], dim).unwrap();
        let (va, vb) = (logical(&a), logical(&b));
        let (pre, la, post) = split(&shape, dim);
        let lb = extra;
        let mut want = vec![];
        for p in 0..pre {
            for (vals, len) in [(&va, la), (&vb, lb), (&va, la)] {
                for i in 0..len * post { want.push(vals[p * len * post + i]); }
            }
        }
        prop_assert_eq!(logical(&c), want);
        let s = Tensor::stack(&[&a, &a], dim).unwrap();
        let mut sd = shape.clone();
        sd.insert(dim, 2);
        prop_assert_eq!(s.dims(), sd.as_slice());
        prop_assert_eq!(logical(&s.select(dim, 1).unwrap()), va);
        let mut bad = shape.clone();
        bad.push(2);
        prop_assert!(Tensor::cat(
            &[&a, &Tensor::zeros(bad, DType::F32, &Device::Cpu).unwrap()],
            dim
        )
        .is_err());
    }

    #[test]
    fn index_select_gather_and_their_adjoints(
        (shape, dim) in arb_shape_dim(),
        n in 0usize..7,
        dtype in arb_dtype(),
        mode in arb_mode(),
        seed in any::<u64>(),
    ) {
        prop_assume!(shape[dim] > 0);
        let x = make(&shape, dtype, seed, mode, -1.0, 1.0);
        let v = logical(&x);
        let mut rng = tensor::Rng::new(seed);
        let len = shape[dim];
        let ids: Vec<i64> = (0..n).map(|_| rng.below(len) as i64).collect();
        let idt = Tensor::from_vec(ids.clone(), n, &Device::Cpu).unwrap();
        let sel = x.index_select(&idt, dim).unwrap();
        let (pre, _, post) = split(&shape, dim);
        let want: Vec<f64> = (0..pre)
            .flat_map(|p| {
                ids.iter()
                    .flat_map(move |&j| (0..post).map(move |q| (p * len + j as usize) * post + q))
            })
            .map(|i| v[i])
            .collect();
        prop_assert_eq!(logical(&sel), want);
        // index_add is the adjoint of index_select: <sel(x), g> == <x, index_add(0, g)>
        let g = make(sel.dims(), dtype, seed ^ 5, Mode::Contiguous, -1.0, 1.0);
        let back = x.zeros_like().unwrap().index_add(&idt, &g, dim).unwrap();
        let lhs: f64 = logical(&sel).iter().zip(logical(&g)).map(|(a, b)| a * b).sum();
        let rhs: f64 = v.iter().zip(logical(&back)).map(|(a, b)| a * b).sum();
        let u = tensor::tolerance::unit_roundoff(dtype);
        prop_assert!(
            (lhs - rhs).abs() <= 1e-9 + 50.0 * u * (1 + n * post * pre) as f64,
            "{lhs} vs {rhs}"
        );
        // gather along dim with an index of the same shape but `n` along dim
        let mut gd = shape.clone();
        gd[dim] = n;
        let gidx: Vec<i64> =
            (0..gd.iter().product::<usize>()).map(|_| rng.below(len) as i64).collect();
        let git = Tensor::from_vec(gidx.clone(), gd.clone(), &Device::Cpu).unwrap();
        let ga = x.gather(&git, dim).unwrap();
        let want: Vec<f64> = (0..gidx.len())
            .map(|i| {
                let p = i / (n * post);
                let q = i % post;
                v[(p * len + gidx[i] as usize) * post + q]
            })
            .collect();
        prop_assert_eq!(logical(&ga), want);
        let gg = make(&gd, dtype, seed ^ 7, Mode::Contiguous, -1.0, 1.0);
        let sc = x.zeros_like().unwrap().scatter_add(&git, &gg, dim).unwrap();
        let lhs: f64 = logical(&ga).iter().zip(logical(&gg)).map(|(a, b)| a * b).sum();
        let rhs: f64 = v.iter().zip(logical(&sc)).map(|(a, b)| a * b).sum();
        prop_assert!(
            (lhs - rhs).abs() <= 1e-9 + 50.0 * u * (1 + gidx.len()) as f64,
            "{lhs} vs {rhs}"
        );
    }
}

#[test]
fn bad_indices_and_dims_are_errors_not_panics() {
    let x = Tensor::zeros([3, 4], DType::F32, &Device::Cpu).unwrap();
    let ids = Tensor::from_vec(vec![0i64, 3], 2, &Device::Cpu).unwrap();
    let e = x.index_select(&ids, 0).unwrap_err().to_string();
    assert!(e.contains("index_select") && e.contains('3'), "{e}");
    assert!(x.index_select(&ids.to_dtype(DType::F32).unwrap(), 0).is_err());
    assert!(x.sum(2, false).unwrap_err().to_string().contains("[3, 4]"));
    assert!(x.narrow(1, 3, 2).is_err());
    assert!(x.reshape([5]).is_err());
    assert!(x.permute(&[0, 0]).is_err());
    assert!(x.squeeze(0).is_err());
    assert!(x
        .matmul(&Tensor::zeros([3, 4], DType::F32, &Device::Cpu).unwrap())
        .unwrap_err()
        .to_string()
        .contains("matmul"));
    assert!(Tensor::from_vec(vec![1f32; 5], [2, 3], &Device::Cpu).is_err());
    let neg = Tensor::from_vec(vec![-1i64], 1, &Device::Cpu).unwrap();
    assert!(x.index_select(&neg, 1).is_err());
}

#[test]
fn display_prints_shape_dtype_and_values() {
    let t = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2], &Device::Cpu).unwrap();
    let s = format!("{t}");
    assert!(
        s.contains("[2, 2] f32") && s.contains("[[1.0000, 2.0000],\n [3.0000, 4.0000]]"),
        "{s}"
    );
    let big = Tensor::zeros([2000], DType::BF16, &Device::Cpu).unwrap();
    assert!(format!("{big}").contains("..."));
}
