//! Per-operator profile of one ONNX model in tract: where a call's time goes.
//!
//!     cargo run --release -p ikd-benches --example profile_tract -- MODEL.onnx W H [--runs N]
//!         [--transform NAME]...
//!
//! Loads the model the way the engine does (input pinned to 1x3xHxW, optimised, runnable), runs
//! it `--runs` times (default 50, after 5 warm-up runs) timing every node of the plan, and
//! prints markdown: total per call (median of whole runs), then time per operator kind and the
//! 15 most expensive nodes (medians over runs). tract's own knobs apply through the environment
//! (TRACT_CPU_ISA, TRACT_LAZY_IM2COL_MIN_KERNEL, TRACT_AMX_BF16...), so the same command A/Bs
//! them. `--transform` applies a named tract transform (e.g. `conv_nhwc`) before optimising.
use std::collections::BTreeMap;
use std::time::Instant;
use tract_onnx::prelude::*;
use tract_onnx::tract_core;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        0.0
    } else {
        v[v.len() / 2]
    }
}

fn main() -> TractResult<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        eprintln!("usage: profile_tract MODEL.onnx W H [--runs N] [--transform NAME]...");
        std::process::exit(2);
    }
    let (path, w, h): (&str, usize, usize) = (&args[0], args[1].parse()?, args[2].parse()?);
    let mut runs = 50usize;
    let mut transforms = Vec::new();
    let mut i = 3;
    while i < args.len() {
        match args[i].as_str() {
            "--runs" => runs = args[i + 1].parse()?,
            "--transform" => transforms.push(args[i + 1].clone()),
            other => anyhow::bail!("unknown option {other}"),
        }
        i += 2;
    }
    let mut model = tract_onnx::onnx()
        .model_for_path(path)?
        .with_input_fact(0, f32::fact([1, 3, h, w]).into())?
        .into_typed()?;
    for name in &transforms {
        let t = tract_core::transform::get_transform(name)?
            .ok_or_else(|| anyhow::anyhow!("tract has no transform {name}"))?;
        t.transform(&mut model)?;
    }
    let plan = model.into_optimized()?.into_runnable()?;
    let input: Tensor = tract_ndarray::Array4::<f32>::from_shape_fn((1, 3, h, w), |(_, c, y, x)| {
        ((x * 7 + y * 13 + c * 29) % 255) as f32 / 255.0
    })
    .into();
    let mut state = plan.spawn()?;
    for _ in 0..5 {
        state.run(tvec![input.clone().into_tvalue()])?;
    }
    let mut whole = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        state.run(tvec![input.clone().into_tvalue()])?;
        whole.push(t.elapsed().as_secs_f64() * 1e3);
    }
    // Per node: one timing per run. The instrumented runs are separate from the whole-call
    // timings above so the closure's overhead does not inflate the total.
    let mut per_node: BTreeMap<usize, (String, String, Vec<f64>)> = BTreeMap::new();
    // Work per node (multiply-adds as tract's own cost model counts them) and what the op
    // says about itself (kernel name, geometry), for the GFLOP/s column.
    let model = plan.model();
    let mut node_flops: BTreeMap<usize, f64> = BTreeMap::new();
    let mut node_info: BTreeMap<usize, String> = BTreeMap::new();
    for node in model.nodes() {
        let facts = model.node_input_facts(node.id)?;
        let mut fmas = 0f64;
        for (cost, n) in node.op.cost(&facts)? {
            if matches!(cost, tract_core::ops::Cost::FMA(_)) {
                fmas += n.to_i64().unwrap_or(0) as f64;
            }
        }
        node_flops.insert(node.id, 2.0 * fmas);
        let info = node.op.info().unwrap_or_default().join("; ");
        let shape = model.outlet_fact(OutletId::new(node.id, 0)).map(|f| format!("{:?}", f.shape)).unwrap_or_default();
        node_info.insert(node.id, format!("out {shape} {info}"));
    }
    for _ in 0..runs {
        state.run_plan_with_eval(tvec![input.clone().into_tvalue()], |ctx, op_state, node, inputs| {
            let t = Instant::now();
            let out = tract_core::plan::eval(ctx, op_state, node, inputs);
            let ms = t.elapsed().as_secs_f64() * 1e3;
            let entry = per_node
                .entry(node.id)
                .or_insert_with(|| (node.op().name().to_string(), node.name.clone(), Vec::new()));
            entry.2.push(ms);
            out
        })?;
    }
    let call = median(&mut whole);
    let mut rows: Vec<(String, String, f64, usize)> = per_node
        .into_iter()
        .map(|(id, (op, name, mut t))| (op, name, median(&mut t), id))
        .collect();
    let profiled: f64 = rows.iter().map(|r| r.2).sum();
    println!(
        "## {} at {w}x{h} in tract",
        std::path::Path::new(path).file_name().unwrap().to_string_lossy()
    );
    if !transforms.is_empty() {
        println!("transforms: {}", transforms.join(", "));
    }
    println!("\nwhole call, median of {runs}: **{call:.2} ms**; sum of per-node medians {profiled:.2} ms\n");
    let mut by_op: BTreeMap<String, (usize, f64)> = BTreeMap::new();
    for (op, _, ms, _) in &rows {
        let e = by_op.entry(op.clone()).or_default();
        e.0 += 1;
        e.1 += ms;
    }
    let mut by_op: Vec<_> = by_op.into_iter().collect();
    by_op.sort_by(|a, b| b.1 .1.total_cmp(&a.1 .1));
    println!("| operator | nodes | ms | share |\n|---|---|---|---|");
    for (op, (n, ms)) in &by_op {
        println!("| {op} | {n} | {ms:.2} | {:.1} % |", 100.0 * ms / profiled.max(1e-9));
    }
    rows.sort_by(|a, b| b.2.total_cmp(&a.2));
    let total_flops: f64 = node_flops.values().sum();
    println!(
        "\nwork: {:.3} GFLOP per call, {:.1} GFLOP/s over the whole call",
        total_flops / 1e9,
        total_flops / 1e6 / call.max(1e-9)
    );
    let top = std::env::var("PROFILE_TOP").ok().and_then(|s| s.parse().ok()).unwrap_or(15usize);
    println!("\n| top nodes | operator | ms | MFLOP | GFLOP/s |\n|---|---|---|---|---|");
    for (op, name, ms, id) in rows.iter().take(top) {
        let f = node_flops.get(id).copied().unwrap_or(0.0);
        println!("| {name} | {op} | {ms:.3} | {:.1} | {:.1} |", f / 1e6, f / 1e6 / ms.max(1e-9));
    }
    if std::env::var("PROFILE_INFO").is_ok() {
        println!("\n| node | operator | ms | details |\n|---|---|---|---|");
        for (op, name, ms, id) in rows.iter().take(top) {
            println!("| {name} | {op} | {ms:.3} | {} |", node_info.get(id).cloned().unwrap_or_default());
        }
    }
    Ok(())
}
