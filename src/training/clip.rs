//! Gradient clipping as PyTorch does it, on the device (no value is read to the host), and the
//! finiteness check of a model's weights.

use burn::module::{AutodiffModule, Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};

/// Global gradient norm: the sum of squares of every gradient, on the device.
struct SquaredNorm<'a, B: AutodiffBackend> {
    grads: &'a GradientsParams,
    total: Option<Tensor<B::InnerBackend, 1>>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for SquaredNorm<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.get::<B::InnerBackend, D>(param.id) {
            let s = (g.clone() * g).sum();
            self.total = Some(match self.total.take() {
                Some(t) => t + s,
                None => s,
            });
        }
    }
}

/// Multiplies every gradient by `factor` (global-norm clipping) and clamps it to `max_value`.
struct ClipGrads<'a, B: AutodiffBackend> {
    grads: &'a mut GradientsParams,
    factor: Option<Tensor<B::InnerBackend, 1>>,
    max_value: f64,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for ClipGrads<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(mut g) = self.grads.remove::<B::InnerBackend, D>(param.id) {
            if let Some(f) = &self.factor {
                g = g * f.clone().reshape([1; D]);
            }
            if self.max_value > 0.0 {
                g = g.clamp(-self.max_value, self.max_value);
            }
            self.grads.register::<B::InnerBackend, D>(param.id, g);
        }
    }
}

/// Clips like PyTorch: `clip_grad_norm_(max_norm)` (scale by `max_norm / (norm + 1e-6)` when the
/// global norm exceeds it), then `clamp(-max_value, max_value)` (char-rnn's `grad_clip`); 0
/// turns either off. No value is read to the host.
pub fn clip_gradients<B: AutodiffBackend, M: AutodiffModule<B>>(
    model: &M,
    grads: &mut GradientsParams,
    max_norm: f64,
    max_value: f64,
) {
    let factor = if max_norm > 0.0 {
        let mut norm = SquaredNorm::<B> { grads, total: None };
        model.visit(&mut norm);
        norm.total.map(|sq| {
            let norm = sq.sqrt().add_scalar(1e-6);
            norm.recip().mul_scalar(max_norm).clamp_max(1.0)
        })
    } else {
        None
    };
    if factor.is_none() && max_value <= 0.0 {
        return;
    }
    model.visit(&mut ClipGrads::<B> {
        grads,
        factor,
        max_value,
    });
}

/// Whether every weight of `module` is finite (one value read to the host).
pub fn weights_finite<B: Backend, M: Module<B>>(module: &M) -> bool {
    struct Finite<B: Backend> {
        max: Vec<Tensor<B, 1>>,
    }
    impl<B: Backend> ModuleVisitor<B> for Finite<B> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            self.max.push(param.val().abs().max());
        }
    }
    let mut v = Finite { max: Vec::new() };
    module.visit(&mut v);
    if v.max.is_empty() {
        return true;
    }
    let max = Tensor::cat(v.max, 0).max().into_data().convert::<f64>();
    max.to_vec::<f64>().expect("f64")[0].is_finite()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CellKind, RecurrentConfig};
    use burn::backend::{Autodiff, NdArray};

    type B = Autodiff<NdArray>;

    #[test]
    fn clipping_scales_to_the_norm_and_clamps() {
        let device = Default::default();
        let layer = RecurrentConfig::new(CellKind::Rnn, 2, 3).init::<B>(&device);
        let x = Tensor::<B, 3>::ones([1, 2, 2], &device).mul_scalar(0.1);
        let (y, _) = layer.forward(x, None);
        let norm = |g: &GradientsParams| {
            let mut v = SquaredNorm::<B> {
                grads: g,
                total: None,
            };
            layer.visit(&mut v);
            v.total.unwrap().into_scalar().sqrt()
        };
        let mut grads = GradientsParams::from_grads(y.sum().mul_scalar(1000.0).backward(), &layer);
        assert!(norm(&grads) > 1.0);
        clip_gradients(&layer, &mut grads, 1.0, 0.0);
        assert!((norm(&grads) - 1.0).abs() < 1e-4, "{}", norm(&grads));
        assert!(weights_finite(&layer));
    }
}
