//! The loss-curve picture of a run (SVG, opens in any browser).

use std::path::Path;

use plotters::prelude::*;

/// Draws train and validation loss against the step into an SVG file; `y_label` names the loss
/// and its unit. Non-finite losses (the step a run stopped on) are left out of the lines.
pub fn loss_curve(
    path: &Path,
    title: &str,
    y_label: &str,
    train: &[(usize, f64)],
    valid: &[(usize, f64)],
) -> Result<(), String> {
    let all = train.iter().chain(valid).filter(|p| p.1.is_finite());
    let (max_step, lo, hi) = all.fold((1usize, f64::INFINITY, f64::NEG_INFINITY), |acc, p| {
        (acc.0.max(p.0), acc.1.min(p.1), acc.2.max(p.1))
    });
    if !lo.is_finite() {
        return Err("no losses to plot".into());
    }
    let pad = ((hi - lo) * 0.05).max(1e-3);
    register_font();
    let root = SVGBackend::new(path, (900, 540)).into_drawing_area();
    let e = |e: DrawingAreaErrorKind<_>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0..max_step, (lo - pad)..(hi + pad))
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc(y_label)
        .draw()
        .map_err(e)?;
    chart
        .draw_series(LineSeries::new(
            finite_points(train.iter().copied()),
            BLUE.stroke_width(2),
        ))
        .map_err(e)?
        .label("train")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    chart
        .draw_series(LineSeries::new(
            finite_points(valid.iter().copied()),
            RED.stroke_width(2),
        ))
        .map_err(e)?
        .label("validation")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(2)));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(e)?;
    root.present().map_err(e)
}

/// The points of a line whose value is finite (a line through the others would jump off the
/// chart).
pub(crate) fn finite_points(points: impl IntoIterator<Item = (usize, f64)>) -> Vec<(usize, f64)> {
    points.into_iter().filter(|p| p.1.is_finite()).collect()
}

/// Registers the bundled DejaVu Sans Mono (`assets/`, DejaVu licence) as plotters' `sans-serif`
/// font, once; plotters draws no text without a registered font. Call it before drawing charts
/// of your own with plotters' bitmap backend.
pub fn register_font() {
    static FONT: &[u8] = include_bytes!("../../assets/DejaVuSansMono.ttf");
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        plotters::style::register_font("sans-serif", plotters::style::FontStyle::Normal, FONT)
            .unwrap_or_else(|_| panic!("the bundled font is a valid TrueType file"));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The points of each `<polyline>` drawn in `color` (`#0000FF`) in an SVG file, in order.
    fn polylines(svg: &str, color: &str) -> Vec<Vec<(i32, i32)>> {
        svg.split("<polyline")
            .skip(1)
            .filter(|tag| tag.contains(&format!("stroke=\"{color}\"")))
            .map(|tag| {
                let points = tag.split("points=\"").nth(1).unwrap().split('"').next();
                points
                    .unwrap()
                    .split_whitespace()
                    .map(|xy| {
                        let (x, y) = xy.split_once(',').unwrap();
                        (x.parse().unwrap(), y.parse().unwrap())
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn non_finite_losses_are_left_out_of_the_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loss.svg");
        let train = [
            (1, 2.0),
            (2, f64::NAN),
            (3, 1.5),
            (4, f64::INFINITY),
            (5, 1.0),
        ];
        let valid = [(3, 1.8), (5, 1.2)];
        loss_curve(&path, "run", "loss", &train, &valid).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        // Each line first, then its legend's mark.
        let (blue, red) = (polylines(&svg, "#0000FF"), polylines(&svg, "#FF0000"));
        assert_eq!(blue.iter().map(Vec::len).collect::<Vec<_>>(), [3, 2]);
        assert_eq!(red.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2]);
        // Falling losses: each point lower on the picture (a larger y) than the one before.
        let ys: Vec<i32> = blue[0].iter().map(|p| p.1).collect();
        assert!(ys[0] < ys[1] && ys[1] < ys[2], "{ys:?}");
        assert_eq!(
            loss_curve(&path, "run", "loss", &[(1, f64::NAN)], &[]),
            Err("no losses to plot".into())
        );
    }
}
